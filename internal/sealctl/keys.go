package sealctl

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) keysCommand() *cobra.Command {
	cmd := group("keys", "Show and rotate a workload's data keys",
		`Each workload has age X25519 data keys, numbered 0, 1, ...; the highest is current. Pods
receive all of them (newest first, in keys.txt) so data sealed to an old key still decrypts.
Only public recipients are ever shown here.`)
	cmd.AddCommand(a.keysShow(), a.keysRotate())
	return cmd
}

func (a *app) keysShow() *cobra.Command {
	return &cobra.Command{
		Use:               "show WORKLOAD",
		Short:             "Show a workload's current data key recipient",
		Long:              `Show the index and the public age recipient of a workload's current data key. Anyone can encrypt to the recipient with the age CLI ("age -r RECIPIENT"); "sealctl seal" does this for you.`,
		Example:           `  sealctl keys show payments`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.keysCall(cmd, http.MethodGet, args[0])
		},
	}
}

func (a *app) keysRotate() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate WORKLOAD",
		Short: "Make a new current data key for a workload",
		Long: `Create a new age data key for a workload and make it current: later "sealctl seal" calls
encrypt to it. Old keys stay, so pods still decrypt data sealed before; pods get the new key
when they next redeem or renew.`,
		Example:           `  sealctl keys rotate payments`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.keysCall(cmd, http.MethodPost, args[0])
		},
	}
}

func (a *app) keysCall(cmd *cobra.Command, method, workload string) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	var k rotapi.KeysResponse
	if err := c.do(cmd.Context(), method, rotapi.Path(rotapi.PathKeys, workload), nil, &k); err != nil {
		return err
	}
	return a.show(k, func(w io.Writer) {
		row(w, "Workload:", workload)
		row(w, "Data key:", strconv.Itoa(k.Index))
		row(w, "Recipient:", k.Recipient)
	})
}

func (a *app) sealCommand() *cobra.Command {
	var armored bool
	cmd := &cobra.Command{
		Use:   "seal WORKLOAD < PLAIN > SEALED",
		Short: "Encrypt stdin to a workload's current data key (age)",
		Long: `Encrypt stdin to the workload's current age data key and write the age file to stdout. Only
holders of the workload's identities can decrypt it: its pods, with
"age -d -i /var/run/seal/keys.txt". --armor writes ASCII-armored (PEM-like) output, which
also may go to a terminal; binary output to a terminal is refused.`,
		Example: `  sealctl seal payments < db-password.txt > db-password.age
  sealctl seal payments --armor < config.yaml > config.yaml.age
  # in a pod of the workload:
  age -d -i /var/run/seal/keys.txt db-password.age`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !armored && isTerminal(a.stdout) {
				return usagef("refusing to write binary age data to a terminal: redirect stdout (> sealed.age) or pass --armor")
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var k rotapi.KeysResponse
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.Path(rotapi.PathKeys, args[0]), nil, &k); err != nil {
				return err
			}
			r, err := age.ParseX25519Recipient(k.Recipient)
			if err != nil {
				return fmt.Errorf("the ROT's recipient for workload %q is not an age X25519 recipient: %w", args[0], err)
			}
			n, err := seal(a.stdout, a.stdin, r, armored)
			if err != nil {
				return err
			}
			a.hint("Sealed %d bytes to workload %q data key %d (%s).", n, args[0], k.Index, k.Recipient)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&armored, "armor", "a", false, "write ASCII-armored output")
	return cmd
}

// seal streams src, encrypted to r, to dst and returns the plaintext length.
func seal(dst io.Writer, src io.Reader, r age.Recipient, armored bool) (int64, error) {
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(dst)
		dst = aw
	}
	w, err := age.Encrypt(dst, r)
	if err != nil {
		return 0, fmt.Errorf("encrypting: %w", err)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, fmt.Errorf("sealing stdin: %w", err)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("writing the sealed data: %w", err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return n, fmt.Errorf("writing the sealed data: %w", err)
		}
	}
	return n, nil
}

// isTerminal reports whether w is a terminal (not merely a character device like /dev/null).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
