// Package route runs the passthrough-route controller of seal-webhook: a Service annotated
// seal.dev/passthrough-route: <host> gets an OpenShift route.openshift.io/v1 Route of that
// host with tls.termination: passthrough, so TLS (Seal's end-to-end mTLS) goes through the
// router untouched. The Route is owned by the Service (garbage-collected with it) and deleted
// when the annotation goes. It acts only for Services of namespaces that opt in
// (seal.dev/routes=enabled or seal.dev/inject=enabled) and hosts some Workload's routeHosts or
// the seal-webhook --route-hosts-allowed list allow; refusals are Warning Events on the Service.
// Where the API server does not serve the Route API the controller stays off. Routes are handled as unstructured objects, so no OpenShift module is needed.
package route
