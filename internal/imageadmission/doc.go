// Package imageadmission holds Seal's image admission handlers: `pin`, a mutating handler that
// rewrites each container image's tag to `repo:tag@sha256:…` (and refuses a tag it cannot
// resolve where a policy enforces), and `verify`, a validating handler that admits only images
// the ImagePolicies and ApprovedImages approve (package verify), by digest where a policy
// enforces.
// Both read Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
// Jobs and CronJobs, so a rejection shows at `kubectl apply`. They act only in namespaces
// labelled `seal.dev/enforce=true` or `seal.dev/inject=enabled`, never in system namespaces.
package imageadmission
