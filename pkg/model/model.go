// Package model describes network architectures in nnx's own terms: a list of
// layers over an input shape, with inferred output shapes and parameter
// tensors. It knows nothing of gorgonia; package engine turns a Spec into a
// graph.
package model

import (
	"fmt"
	"strings"
)

// Kind names a layer type as written in YAML.
type Kind string

// The layer kinds nnx knows.
const (
	Dense   Kind = "dense"
	Flatten Kind = "flatten"
	ReLU    Kind = "relu"
	Tanh    Kind = "tanh"
	Sigmoid Kind = "sigmoid"
	Softmax Kind = "softmax"
)

// Activations lists the kinds that are element-wise activations.
func Activations() []string { return []string{string(ReLU), string(Tanh), string(Sigmoid)} }

// IsActivation reports whether k is an element-wise activation.
func IsActivation(k Kind) bool {
	switch k {
	case ReLU, Tanh, Sigmoid:
		return true
	}
	return false
}

// Layer is one layer of a network.
type Layer struct {
	Kind  Kind
	Units int // Dense: output units
}

// String renders the layer compactly, e.g. "dense(128)".
func (l Layer) String() string {
	if l.Kind == Dense {
		return fmt.Sprintf("dense(%d)", l.Units)
	}
	return string(l.Kind)
}

// Shape is a tensor shape without the batch dimension.
type Shape []int

// Size is the number of elements of the shape.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// String renders the shape as "10x13x13".
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// Param is one learnable tensor of a network.
type Param struct {
	Name  string // e.g. "dense0.weight"
	Shape []int
	FanIn int // inputs feeding one output, for initialisation
	Bias  bool
}

// Spec is a whole network: the input shape, its layers and the number of
// classes its last layer must produce.
type Spec struct {
	Input   Shape
	Classes int
	Layers  []Layer
}

// MLP returns the layers of a multilayer perceptron with the given hidden
// widths and activation, ending in a dense layer of classes outputs (the
// logits; the loss applies softmax).
func MLP(hidden []int, activation Kind, classes int) []Layer {
	var ls []Layer
	for _, h := range hidden {
		ls = append(ls, Layer{Kind: Dense, Units: h}, Layer{Kind: activation})
	}
	return append(ls, Layer{Kind: Dense, Units: classes})
}

// ShapeError says which layer cannot take its input.
type ShapeError struct {
	Index int
	Layer Layer
	Msg   string
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("layers[%d] %s %s", e.Index, e.Layer.Kind, e.Msg)
}

// Shapes infers the output shape of every layer, or says which layer does
// not fit its input.
func (s Spec) Shapes() ([]Shape, error) {
	if len(s.Layers) == 0 {
		return nil, fmt.Errorf("the model has no layers")
	}
	cur := append(Shape(nil), s.Input...)
	out := make([]Shape, len(s.Layers))
	for i, l := range s.Layers {
		switch l.Kind {
		case Dense:
			if len(cur) != 1 {
				return nil, &ShapeError{i, l, fmt.Sprintf("needs a flat input but gets %s: add flatten before it", cur)}
			}
			if l.Units < 1 {
				return nil, &ShapeError{i, l, fmt.Sprintf("needs units >= 1, got %d", l.Units)}
			}
			cur = Shape{l.Units}
		case Flatten:
			cur = Shape{cur.Size()}
		case ReLU, Tanh, Sigmoid, Softmax:
		default:
			return nil, &ShapeError{i, l, "is not a known layer"}
		}
		out[i] = cur
	}
	last := out[len(out)-1]
	if len(last) != 1 || last[0] != s.Classes {
		return nil, &ShapeError{len(s.Layers) - 1, s.Layers[len(s.Layers)-1],
			fmt.Sprintf("ends the model with shape %s but the data has %d classes", last, s.Classes)}
	}
	if s.Layers[len(s.Layers)-1].Kind == Softmax {
		return nil, &ShapeError{len(s.Layers) - 1, s.Layers[len(s.Layers)-1], "must not end the model: the loss applies softmax to the logits"}
	}
	return out, nil
}

// Params lists the learnable tensors in layer order.
func (s Spec) Params() ([]Param, error) {
	shapes, err := s.Shapes()
	if err != nil {
		return nil, err
	}
	var ps []Param
	in := s.Input
	dense := 0
	for i, l := range s.Layers {
		if l.Kind == Dense {
			name := fmt.Sprintf("dense%d", dense)
			dense++
			ps = append(ps,
				Param{Name: name + ".weight", Shape: []int{in[0], l.Units}, FanIn: in[0]},
				Param{Name: name + ".bias", Shape: []int{1, l.Units}, FanIn: in[0], Bias: true})
		}
		in = shapes[i]
	}
	return ps, nil
}

// Count is the total number of learnable values.
func Count(ps []Param) int {
	n := 0
	for _, p := range ps {
		n += Shape(p.Shape).Size()
	}
	return n
}

// Tensor is a named weight tensor, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}
