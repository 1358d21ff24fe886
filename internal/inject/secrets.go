package inject

// parseSecrets reads seal.dev/secrets: "false" turns off the delivery of the workload's
// secrets to the pod; "true" or no annotation keeps it.
func (s *settings) parseSecrets(ann map[string]string) error {
	switch v := ann[AnnotationSecrets]; v {
	case "", "true":
	case "false":
		s.noSecrets = true
	default:
		return refuse(AnnotationSecrets, v, "is not a known value", `write "false" (no secrets in /var/run/seal/secrets) or "true" (the default)`)
	}
	return nil
}
