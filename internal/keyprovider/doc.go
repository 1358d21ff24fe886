// Package keyprovider is Seal's side of the ocicrypt keyprovider protocol, with which
// containerd's imgcrypt stream processor (ctd-decoder) and other ocicrypt users have a layer's
// key unwrapped by an external program (seal-keyprovider): one JSON request on stdin
// ({"op":"keyunwrap","keyunwrapparams":{"dc":...,"annotation":...}}), one JSON answer on stdout
// ({"keyunwrapresults":{"optsdata":...}}), a refusal on stderr with a non-zero exit.
//
// The annotation (org.opencontainers.image.enc.keys.provider.seal) is a Seal envelope: the
// id of the image's key at the ROT, the Egg sealed into the image, and the layer's ocicrypt
// options (its symmetric key) under AES-256-GCM with the image key. To open it, a node asks
// the ROT for a nonce for that Egg, has its TPM quote the PCRs the ROT names over it, and
// asks POST /v1/image-key for the image key with the evidence: the ROT releases it only to a
// node whose quote satisfies the workload's attestation policy.
//
// Decode ("seal-keyprovider decode") is containerd's stream processor for encrypted layers, in
// place of imgcrypt's ctd-decoder (whose module the Go module proxy does not serve): the layer
// on stdin, the plain layer on stdout, the layer's descriptor (an imgcrypt.Payload) on fd 3; it
// unwraps the seal annotation in-process with the same ROT client as the protocol mode.
//
// sealctl image seal --encrypt wraps with Wrap in-process (the KeyWrapper registered by
// Register); the keywrap operation of the protocol is not served.
package keyprovider
