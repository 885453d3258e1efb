// Package oracle holds the dissector's tests against tshark: on the
// simulator's committed samples and on fresh captures made with every
// cipher suite, the plaintexts ompscope decrypts must equal, record for
// record, what tshark decrypts with the same keys. tshark is an oracle
// nobody here wrote; the tests skip with a message when it is absent
// (.ci/run installs it).
package oracle
