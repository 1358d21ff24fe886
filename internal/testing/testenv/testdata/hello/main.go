// Command hello is a container for the node test: it prints a line (and the files in the
// directories given as arguments), then waits for SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fmt.Printf("hello from %s\n", os.Getenv("POD_NAME"))
	for _, d := range os.Args[1:] {
		if err := os.WriteFile(d+"/written", []byte("x"), 0o600); err != nil {
			fmt.Println("write:", err)
		}
		fmt.Println("wrote", d+"/written")
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
	fmt.Println("bye")
}
