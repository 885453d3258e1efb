package capture

// MaxSecretsBlock exposes the secrets block bound to the external tests.
const MaxSecretsBlock = maxSecretsBlock
