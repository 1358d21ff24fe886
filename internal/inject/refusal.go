package inject

import (
	"errors"
	"fmt"
)

// ErrRefused matches every *RefusalError with errors.Is.
var ErrRefused = errors.New("inject: pod refused")

// RefusalError is a pod that asks for injection with a setting that cannot work. Its message
// names the label or annotation, what is wrong and how to fix it; the webhook denies the pod
// with it.
type RefusalError struct {
	// Key is the label or annotation at fault.
	Key string
	// Value is its value ("" when missing).
	Value string
	// Problem says what is wrong.
	Problem string
	// Fix says what to write instead.
	Fix string
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("seal: %s=%q %s; fix: %s", e.Key, e.Value, e.Problem, e.Fix)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusalError) Is(target error) bool { return target == ErrRefused }

func refuse(key, value, problem, fix string) error {
	return &RefusalError{Key: key, Value: value, Problem: problem, Fix: fix}
}
