// Package relay carries the dissector's output from sensors to a central
// analyzer through a NATS JetStream stream (docs/scale-out.md).
//
// On a sensor, an Encoder is the dissector's sink: it turns each record
// (its plaintext, as it was on the wire), decryption gap, session end and
// clock tick into an Envelope, numbered within the sensor's run, and
// hands it to a Publisher, which batches envelopes into NATS messages and
// publishes them asynchronously with message IDs that make a resend a
// duplicate the stream drops. On the central side, Subscribe reads every
// sensor's subject, drops duplicates, restores each sensor's order and
// merges the sensors in capture-time order (Merger) for the caller, which
// decodes the records with the dissector's own codec and feeds the
// analyzer: the analysis is the one analyze -r makes.
//
// The envelope encoding is hand-written (codec.go) rather than JSON or
// protobuf: it is versioned, it carries a record's plaintext as it is
// (the vdaemon/OMP codec is the one encoding of messages), and its header
// is a few varints (on the 30-minute churn capture, 86 063 envelopes took
// 40.96 MB: 476 bytes each, mostly OMP UPDATEs' plaintext). Decoding it
// never panics and never allocates more than the message's size allows
// (FuzzDecode).
package relay
