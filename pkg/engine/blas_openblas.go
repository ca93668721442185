//go:build openblas

package engine

/*
#cgo LDFLAGS: -lopenblas
*/
import "C"

import (
	netlib "gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// BLAS names the matrix library this build multiplies with: OpenBLAS
// through cgo (build with -tags openblas; needs Debian's libopenblas-dev).
// Its results differ in the last bits from gonum's, and between OpenBLAS
// thread counts, so it is part of every trial id.
const BLAS = "openblas"

func init() { G.Use(netlib.Implementation{}) }
