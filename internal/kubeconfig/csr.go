package kubeconfig

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
)

// Errors callers branch on; the messages around them name the cluster and the CSR.
var (
	// ErrDenied: someone (or a policy) denied the CSR.
	ErrDenied = errors.New("kubeconfig: certificate signing request denied")
	// ErrFailed: the signer refused to sign the CSR.
	ErrFailed = errors.New("kubeconfig: certificate signing request failed")
	// ErrNoSigner: the CSR was approved but no signer issued a certificate in time.
	ErrNoSigner = errors.New("kubeconfig: no signer answered")
	// ErrNotApproved: nobody approved the CSR in time (with --no-approve).
	ErrNotApproved = errors.New("kubeconfig: certificate signing request not approved")
)

// MinTTL is the shortest lifetime Kubernetes signers issue (the API server rejects less).
const MinTTL = 10 * time.Minute

// request is one CSR in one cluster.
type request struct {
	cluster string
	client  kubernetes.Interface
	signer  string
	ttl     time.Duration
	approve bool
	keep    bool
	timeout time.Duration
	log     io.Writer
}

// csrPEM is a PKCS#10 request for subject CN=user, O=groups signed with key.
func csrPEM(rnd io.Reader, key crypto.Signer, user string, groups []string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: user, Organization: groups},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: creating the certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// csrPrefix is a generateName for a CSR of user: "sealctl-" and the user as far as a DNS
// subdomain allows.
func csrPrefix(user string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(user), "-"), "-.")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		return "sealctl-"
	}
	return "sealctl-" + s + "-"
}

// do creates the CSR, approves it unless told not to, waits for the certificate and deletes
// the object (unless keep). It returns the PEM certificate chain the signer issued.
func (r request) do(ctx context.Context, csr []byte, user string) (cert []byte, err error) {
	csrs := r.client.CertificatesV1().CertificateSigningRequests()
	secs := int32(r.ttl / time.Second)
	obj, err := csrs.Create(ctx, &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: csrPrefix(user),
			Labels:       map[string]string{"app.kubernetes.io/managed-by": "sealctl"},
		},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:           csr,
			SignerName:        r.signer,
			ExpirationSeconds: &secs,
			Usages:            []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: cluster %s: creating the CSR: %w", r.cluster, err)
	}
	name := obj.Name
	if !r.keep {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if derr := csrs.Delete(dctx, name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) && err == nil {
				err = fmt.Errorf("kubeconfig: cluster %s: deleting CSR %s (the certificate was issued): %w", r.cluster, name, derr)
			}
		}()
	}
	if r.approve {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := csrs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Conditions = append(cur.Status.Conditions, certv1.CertificateSigningRequestCondition{
				Type:           certv1.CertificateApproved,
				Status:         corev1.ConditionTrue,
				Reason:         "SealctlKubeconfig",
				Message:        "approved by sealctl kubeconfig for " + user,
				LastUpdateTime: metav1.Now(),
			})
			_, err = csrs.UpdateApproval(ctx, name, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: cluster %s: approving CSR %s (needs the approve verb on signers %q): %w", r.cluster, name, r.signer, err)
		}
	} else if r.log != nil {
		fmt.Fprintf(r.log, "cluster %s: waiting up to %s for someone else to approve CSR %s (kubectl certificate approve %s)\n", r.cluster, r.timeout, name, name)
	}
	return r.wait(ctx, name)
}

// wait watches the CSR name until it carries a certificate, is denied or failed, or the
// timeout passes.
func (r request) wait(ctx context.Context, name string) ([]byte, error) {
	csrs := r.client.CertificatesV1().CertificateSigningRequests()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return csrs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return csrs.Watch(ctx, o)
		},
	}
	var last *certv1.CertificateSigningRequest
	var stop error
	_, err := watchtools.UntilWithSync(ctx, lw, &certv1.CertificateSigningRequest{}, nil, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			stop = fmt.Errorf("kubeconfig: cluster %s: CSR %s was deleted before a certificate was issued", r.cluster, name)
			return true, nil
		case watch.Added, watch.Modified:
		default:
			return false, nil
		}
		csr, ok := ev.Object.(*certv1.CertificateSigningRequest)
		if !ok {
			return false, nil
		}
		last = csr
		for _, c := range csr.Status.Conditions {
			switch c.Type {
			case certv1.CertificateDenied:
				stop = fmt.Errorf("%w: cluster %s: CSR %s: %s", ErrDenied, r.cluster, name, reason(c))
				return true, nil
			case certv1.CertificateFailed:
				stop = fmt.Errorf("%w: cluster %s: CSR %s: signer %s: %s", ErrFailed, r.cluster, name, r.signer, reason(c))
				return true, nil
			}
		}
		return len(csr.Status.Certificate) > 0, nil
	})
	switch {
	case stop != nil:
		return nil, stop
	case err == nil && last != nil:
		return last.Status.Certificate, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && approved(last):
		return nil, fmt.Errorf("%w: cluster %s: CSR %s was approved but no signer for %q answered within %s: is kube-controller-manager running with --cluster-signing-cert-file/--cluster-signing-key-file (or another signer for that name)?", ErrNoSigner, r.cluster, name, r.signer, r.timeout)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: cluster %s: nobody approved CSR %s within %s: approve it with kubectl certificate approve %s, or raise --timeout", ErrNotApproved, r.cluster, name, r.timeout, name)
	default:
		return nil, fmt.Errorf("kubeconfig: cluster %s: watching CSR %s: %w", r.cluster, name, err)
	}
}

func approved(csr *certv1.CertificateSigningRequest) bool {
	if csr == nil {
		return false
	}
	for _, c := range csr.Status.Conditions {
		if c.Type == certv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func reason(c certv1.CertificateSigningRequestCondition) string {
	s := c.Reason
	if c.Message != "" {
		if s != "" {
			s += ": "
		}
		s += c.Message
	}
	if s == "" {
		s = "no reason given"
	}
	return s
}
