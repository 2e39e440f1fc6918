// What the kind lab pins. scripts/provision/versions.env pins the same
// releases for the workshop VM; a unit test keeps the two equal.

export const KIND_VERSION = 'v0.32.0';

// kind v0.32.0's default node image (pkg/apis/config/defaults/image.go). The
// digest matters: kind's release notes say only the @sha256 form guarantees
// an image built for that kind release.
export const NODE_IMAGE =
  'kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5';

// The same image by its tag alone: what `docker load` of an offline bundle
// leaves behind (a loaded image keeps its tags, not the registry's digest).
export const NODE_IMAGE_TAG = NODE_IMAGE.split('@')[0]!;

// The node image's Kubernetes release; an offline bundle carries this kubectl.
export const KUBERNETES_VERSION = NODE_IMAGE_TAG.split(':')[1]!;

// kubectl should be within one minor version of the node image's Kubernetes.
export const KUBERNETES_MINOR = 'v1.36';

// Node.js major the workshop VM runs: the current LTS.
export const NODE_MAJOR = 24;
