package enroll

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/seal-dev/seal/internal/atomicfile"
)

// BinaryName is the name the copy step gives seal-init when DEST is a directory.
const BinaryName = "seal-init"

// mainCopy runs `seal-init copy DEST`: it copies the running executable to DEST (or into it,
// when DEST is a directory or ends in "/"), atomically and executable by all (0555), so a
// container of the app's own image can run seal-init from the shared volume.
func mainCopy(args []string, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "seal-init: usage: seal-init copy DEST (a file, or a directory to hold seal-init)")
		return ExitUsage
	}
	self, err := os.Executable()
	if err == nil {
		err = CopySelf(self, args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "seal-init: cannot copy seal-init to %s (%s): check that DEST is on the pod's writable seal volume\n", args[0], cause(err))
		return ExitFailure
	}
	return ExitOK
}

// CopySelf copies the executable src to dest (see mainCopy) through a temporary file and a
// rename, so a reader never runs a partial binary.
func CopySelf(src, dest string) error {
	if fi, err := os.Stat(dest); (err == nil && fi.IsDir()) || strings.HasSuffix(dest, "/") {
		dest = filepath.Join(dest, BinaryName)
	}
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(dest, 0o555)
	if err != nil {
		return err
	}
	defer out.Cleanup()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}
