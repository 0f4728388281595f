//go:build !unix

package main

import (
	"errors"
	"os"
)

// errNoFlock says that the file-backed source of demo -bus needs flock.
var errNoFlock = errors.New("the file-backed source needs flock, which this system lacks; give -redis too")

func lockFile(*os.File, bool) error { return errNoFlock }
func unlockFile(*os.File) error     { return errNoFlock }
