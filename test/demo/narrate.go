package main

import (
	"fmt"
	"io"
	"strings"
)

// narrator prints the story: numbered steps, indented details, and a summary at the end.
type narrator struct {
	w       io.Writer
	step    int
	summary []string
}

func (n *narrator) Step(format string, args ...any) {
	n.step++
	fmt.Fprintf(n.w, "\n%d. %s\n", n.step, fmt.Sprintf(format, args...))
}

func (n *narrator) Say(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(n.w, "   %s\n", line)
	}
}

// Done records a line of the closing summary.
func (n *narrator) Done(format string, args ...any) {
	n.summary = append(n.summary, "✓ "+fmt.Sprintf(format, args...))
}

// Skipped records a line of the closing summary for a part that could not run here.
func (n *narrator) Skipped(format string, args ...any) {
	n.summary = append(n.summary, "– "+fmt.Sprintf(format, args...))
}

func (n *narrator) Summary() {
	fmt.Fprintf(n.w, "\nSummary\n")
	for _, s := range n.summary {
		fmt.Fprintf(n.w, "  %s\n", s)
	}
}
