// Package inject is Seal's pod mutation: given a Pod being created, the labels of its
// namespace and the webhook's Config, it decides whether the pod gets a Seal identity and, if so,
// returns the RFC 6902 JSON-patch operations that add it.
//
// The patch is built by hand, operation by operation, so its cost depends on the number of
// containers, not on the size of the pod: the pod is never marshalled or diffed. It adds
//
//   - the "seal" emptyDir volume (medium Memory);
//   - the seal-init init container, first among init containers (or, with seal.dev/rotate:
//     "true", the same as a native sidecar running seal-init --watch), restricted: non-root,
//     read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp
//     RuntimeDefault;
//   - the Egg: from a Secret through env SEAL_EGG (secretKeyRef), or baked into the app image,
//     in which case a first init container copies seal-init into the volume and a second one,
//     running the app's image, redeems the Egg it finds at the given path;
//   - a read-only mount of /var/run/seal and the SEAL_* environment in every app container and
//     every init container declared after seal-init;
//   - the seal.dev/status annotation, which records what was injected and makes Mutate
//     idempotent.
//
// A pod that asks for injection with a setting that cannot work is refused with a
// *RefusalError naming the annotation and the fix; a pod that is not selected is skipped with a
// SkipReason (for metrics). Mutate never returns a half-built patch.
package inject
