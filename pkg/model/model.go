// Package model describes network architectures in nnx's own terms: a list of
// layers over an input shape, with inferred output shapes and parameter
// tensors. It knows nothing of gorgonia; package engine turns a Spec into a
// graph, and package predict runs one in plain Go.
package model

import (
	"fmt"
	"strings"
)

// Kind names a layer type as written in YAML.
type Kind string

// The layer kinds nnx knows.
const (
	Dense     Kind = "dense"
	Conv2D    Kind = "conv2d"
	MaxPool2D Kind = "maxpool2d"
	BatchNorm Kind = "batchnorm"
	Dropout   Kind = "dropout"
	Flatten   Kind = "flatten"
	ReLU      Kind = "relu"
	Tanh      Kind = "tanh"
	Sigmoid   Kind = "sigmoid"
	Softmax   Kind = "softmax"
)

// Kinds lists every layer kind, in the order the docs give them.
func Kinds() []Kind {
	return []Kind{Conv2D, MaxPool2D, BatchNorm, Dropout, Flatten, Dense, ReLU, Tanh, Sigmoid, Softmax}
}

// Layer is one layer of a network. Only the fields of its Kind are used.
type Layer struct {
	Kind    Kind
	Units   int     // dense: outputs
	Filters int     // conv2d: output channels
	Kernel  int     // conv2d: square kernel size; maxpool2d: window size
	Stride  int     // conv2d, maxpool2d: step (maxpool2d 0 = its size; conv2d 0 = 1)
	Padding int     // conv2d: zero padding on each side
	Rate    float64 // dropout: probability of dropping a value
}

// String renders the layer compactly, e.g. "conv2d(10, 3x3)".
func (l Layer) String() string {
	switch l.Kind {
	case Dense:
		return fmt.Sprintf("dense(%d)", l.Units)
	case Conv2D:
		s := fmt.Sprintf("conv2d(%d, %dx%d", l.Filters, l.Kernel, l.Kernel)
		if l.stride() != 1 {
			s += fmt.Sprintf(", stride %d", l.stride())
		}
		if l.Padding != 0 {
			s += fmt.Sprintf(", pad %d", l.Padding)
		}
		return s + ")"
	case MaxPool2D:
		if l.stride() != l.Kernel {
			return fmt.Sprintf("maxpool2d(%d, stride %d)", l.Kernel, l.stride())
		}
		return fmt.Sprintf("maxpool2d(%d)", l.Kernel)
	case Dropout:
		return fmt.Sprintf("dropout(%g)", l.Rate)
	}
	return string(l.Kind)
}

// stride is the effective stride.
func (l Layer) stride() int {
	if l.Stride > 0 {
		return l.Stride
	}
	if l.Kind == MaxPool2D {
		return l.Kernel
	}
	return 1
}

// EffectiveStride is the stride the layer moves by.
func (l Layer) EffectiveStride() int { return l.stride() }

// Shape is a tensor shape without the batch dimension: (C, H, W) for
// images, (N) for flat vectors.
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

// Param is one tensor a network keeps: learnable weights, or (Learnable
// false) batch-norm running statistics.
type Param struct {
	Name      string // e.g. "dense0.weight"
	Layer     int    // index of the layer that owns it
	Shape     []int
	FanIn     int // inputs feeding one output, for initialisation
	FanOut    int
	Role      Role
	Learnable bool
}

// Role says what a parameter is for, which decides its initial value.
type Role int

// Parameter roles.
const (
	Weight Role = iota
	Bias
	Scale       // batch-norm γ, starts at 1
	Shift       // batch-norm β, starts at 0
	RunningMean // starts at 0
	RunningVar  // starts at 1
)

// Spec is a whole network: the input shape, its layers and the number of
// classes its last layer must produce (as logits: the loss or the predictor
// applies softmax).
type Spec struct {
	Input   Shape
	Classes int
	Layers  []Layer
}

// MLP returns the layers of a multilayer perceptron: flatten, then a dense
// layer and activation per hidden width, then a dense layer of classes
// outputs.
func MLP(hidden []int, activation Kind, classes int) []Layer {
	ls := []Layer{{Kind: Flatten}}
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
		fail := func(format string, args ...any) error {
			return &ShapeError{i, l, fmt.Sprintf(format, args...)}
		}
		switch l.Kind {
		case Dense:
			if len(cur) != 1 {
				return nil, fail("needs a flat input but gets %s: add flatten before it", cur)
			}
			if l.Units < 1 {
				return nil, fail("needs units >= 1, got %d", l.Units)
			}
			cur = Shape{l.Units}
		case Conv2D, MaxPool2D:
			if len(cur) != 3 {
				return nil, fail("needs an image input (channels x height x width) but gets %s", cur)
			}
			if l.Kernel < 1 {
				return nil, fail("needs a kernel size >= 1, got %d", l.Kernel)
			}
			if l.Stride < 0 || l.Padding < 0 {
				return nil, fail("needs stride and padding >= 0, got %d and %d", l.Stride, l.Padding)
			}
			st, pad := l.stride(), l.Padding
			if l.Kind == MaxPool2D {
				pad = 0
			}
			h := (cur[1]+2*pad-l.Kernel)/st + 1
			w := (cur[2]+2*pad-l.Kernel)/st + 1
			if cur[1]+2*pad < l.Kernel || cur[2]+2*pad < l.Kernel {
				return nil, fail("window %dx%d does not fit its %s input", l.Kernel, l.Kernel, cur)
			}
			c := cur[0]
			if l.Kind == Conv2D {
				if l.Filters < 1 {
					return nil, fail("needs filters >= 1, got %d", l.Filters)
				}
				c = l.Filters
			}
			cur = Shape{c, h, w}
		case BatchNorm:
			if len(cur) != 1 && len(cur) != 3 {
				return nil, fail("needs a flat or image input, got %s", cur)
			}
		case Dropout:
			if !(l.Rate >= 0 && l.Rate < 1) {
				return nil, fail("needs a rate in [0, 1), got %g", l.Rate)
			}
		case Flatten:
			cur = Shape{cur.Size()}
		case ReLU, Tanh, Sigmoid:
		case Softmax:
			if len(cur) != 1 {
				return nil, fail("needs a flat input but gets %s: add flatten before it", cur)
			}
		default:
			return nil, fail("is not a known layer (valid: %s)", kindList())
		}
		out[i] = cur
	}
	last := len(s.Layers) - 1
	if s.Layers[last].Kind == Softmax {
		return nil, &ShapeError{last, s.Layers[last], "must not end the model: the loss applies softmax to the last layer's outputs"}
	}
	if len(out[last]) != 1 || out[last][0] != s.Classes {
		return nil, &ShapeError{last, s.Layers[last],
			fmt.Sprintf("ends the model with shape %s, but the data has %d classes: end with dense {units: %d}", out[last], s.Classes, s.Classes)}
	}
	return out, nil
}

func kindList() string {
	var ks []string
	for _, k := range Kinds() {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
}

// Params lists the tensors the network keeps, in layer order: per dense
// and conv2d layer a weight and a bias; per batchnorm a scale, a shift and
// the running mean and variance.
func (s Spec) Params() ([]Param, error) {
	shapes, err := s.Shapes()
	if err != nil {
		return nil, err
	}
	var ps []Param
	in := s.Input
	count := map[Kind]int{}
	for i, l := range s.Layers {
		prefix := fmt.Sprintf("%s%d", l.Kind, count[l.Kind])
		switch l.Kind {
		case Dense:
			ps = append(ps,
				Param{Name: prefix + ".weight", Layer: i, Shape: []int{in[0], l.Units}, FanIn: in[0], FanOut: l.Units, Role: Weight, Learnable: true},
				Param{Name: prefix + ".bias", Layer: i, Shape: []int{1, l.Units}, FanIn: in[0], FanOut: l.Units, Role: Bias, Learnable: true})
		case Conv2D:
			fanIn, fanOut := in[0]*l.Kernel*l.Kernel, l.Filters*l.Kernel*l.Kernel
			ps = append(ps,
				Param{Name: prefix + ".weight", Layer: i, Shape: []int{l.Filters, in[0], l.Kernel, l.Kernel}, FanIn: fanIn, FanOut: fanOut, Role: Weight, Learnable: true},
				Param{Name: prefix + ".bias", Layer: i, Shape: []int{1, l.Filters, 1, 1}, FanIn: fanIn, FanOut: fanOut, Role: Bias, Learnable: true})
		case BatchNorm:
			shape := []int{1, in[0]}
			if len(in) == 3 {
				shape = []int{1, in[0], 1, 1}
			}
			ps = append(ps,
				Param{Name: prefix + ".scale", Layer: i, Shape: shape, Role: Scale, Learnable: true},
				Param{Name: prefix + ".shift", Layer: i, Shape: shape, Role: Shift, Learnable: true},
				Param{Name: prefix + ".running_mean", Layer: i, Shape: []int{in[0]}, Role: RunningMean},
				Param{Name: prefix + ".running_var", Layer: i, Shape: []int{in[0]}, Role: RunningVar})
		}
		count[l.Kind]++
		in = shapes[i]
	}
	return ps, nil
}

// Count is the number of learnable values.
func Count(ps []Param) int {
	n := 0
	for _, p := range ps {
		if p.Learnable {
			n += Shape(p.Shape).Size()
		}
	}
	return n
}

// Tensor is a named tensor of values, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// SeedCNN returns the seed project's CNN for 1x28x28 images: conv 10 3x3,
// relu, batchnorm, maxpool 2, flatten, dense 64, relu, dense 32, relu,
// dense classes (experiments/cnn.yaml writes the same in YAML). The
// benchmarks build it from here.
func SeedCNN(classes int) []Layer {
	return []Layer{
		{Kind: Conv2D, Filters: 10, Kernel: 3}, {Kind: ReLU}, {Kind: BatchNorm},
		{Kind: MaxPool2D, Kernel: 2}, {Kind: Flatten},
		{Kind: Dense, Units: 64}, {Kind: ReLU}, {Kind: Dense, Units: 32}, {Kind: ReLU},
		{Kind: Dense, Units: classes},
	}
}
