package model

import (
	"strings"
	"testing"
)

// TestSeedCNNShapesAndParams checks shape inference and the parameter count
// against PyTorch's for the seed CNN (sum of p.numel() over its module: 110,754).
func TestSeedCNNShapesAndParams(t *testing.T) {
	s := Spec{Input: Shape{1, 28, 28}, Classes: 10, Layers: SeedCNN(10)}
	shapes, err := s.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10x26x26", "10x26x26", "10x26x26", "10x13x13", "1690", "64", "64", "32", "32", "10"}
	for i, w := range want {
		if shapes[i].String() != w {
			t.Errorf("layer %d (%s): shape %s, want %s", i, s.Layers[i], shapes[i], w)
		}
	}
	ps, err := s.Params()
	if err != nil {
		t.Fatal(err)
	}
	if n := Count(ps); n != 110754 {
		t.Errorf("%d learnable values, PyTorch counts 110754", n)
	}
	var stats int
	for _, p := range ps {
		if !p.Learnable {
			stats += Shape(p.Shape).Size()
		}
	}
	if stats != 20 {
		t.Errorf("%d running-statistic values, want 20 (mean and variance of 10 channels)", stats)
	}
}

func TestShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		layers []Layer
		want   string
	}{
		{[]Layer{{Kind: Conv2D, Filters: 4, Kernel: 3}, {Kind: Dense, Units: 10}}, "layers[1] dense needs a flat input but gets 4x26x26: add flatten before it"},
		{[]Layer{{Kind: Flatten}, {Kind: Conv2D, Filters: 4, Kernel: 3}}, "layers[1] conv2d needs an image input (channels x height x width) but gets 784"},
		{[]Layer{{Kind: MaxPool2D, Kernel: 30}}, "layers[0] maxpool2d window 30x30 does not fit its 1x28x28 input"},
		{[]Layer{{Kind: Flatten}, {Kind: Dense, Units: 12}}, "layers[1] dense ends the model with shape 12, but the data has 10 classes: end with dense {units: 10}"},
		{[]Layer{{Kind: Flatten}, {Kind: Dense, Units: 10}, {Kind: Softmax}}, "layers[2] softmax must not end the model"},
		{[]Layer{{Kind: Flatten}, {Kind: Dropout, Rate: 1}, {Kind: Dense, Units: 10}}, "layers[1] dropout needs a rate in [0, 1), got 1"},
	} {
		_, err := Spec{Input: Shape{1, 28, 28}, Classes: 10, Layers: tc.layers}.Shapes()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.layers, err, tc.want)
		}
	}
}
