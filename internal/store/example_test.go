package store_test

import (
	"context"
	"fmt"
	"os"

	"github.com/seal-dev/seal/internal/store"
)

func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "rot-state-")
	defer os.RemoveAll(dir)
	st, err := store.OpenFile(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	state, _ := st.Load(context.Background())
	fmt.Println("first start:", state.Authority == nil)
	_, err = store.OpenFile(dir) // a second seal-rot on the same directory
	fmt.Println(err != nil)
	// Output:
	// first start: true
	// true
}
