package kubestore_test

import (
	"testing"

	"github.com/seal-dev/seal/internal/store/storetest"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func testInvites(t *testing.T, env *testenv.Env) {
	storetest.Invites(t, newStore(t, env, env.Namespace(t, nil)))
}
