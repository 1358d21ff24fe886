// Package servingcert manages seal-webhook's own TLS serving certificate in-process, so the
// webhook needs neither cert-manager nor a pre-made Secret:
//
//   - a self-signed CA lives in a Secret in the webhook's namespace, created by whichever
//     replica comes first (the API server's create/update conflicts make exactly one CA win);
//   - each replica issues itself a short-lived leaf for the Service's DNS names from that CA,
//     kept in memory and renewed well before expiry;
//   - the CA is rotated with overlap: a new CA is made while the old one still has time left,
//     both stay in the caBundle until the old one expires;
//   - the caBundle is patched into the named MutatingWebhookConfiguration and
//     ValidatingWebhookConfiguration whenever it changes.
package servingcert
