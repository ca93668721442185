package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nnx-dev/nnx/pkg/config/strict"
	"github.com/nnx-dev/nnx/pkg/model"
)

// Layer is one item of model.layers: exactly one of its fields is set. In
// YAML it is a bare kind (`- relu`) or a one-key mapping
// (`- conv2d: {filters: 10, kernel: 3}`).
type Layer struct {
	Conv2D    *Conv2D    `yaml:"conv2d,omitempty" json:"conv2d,omitempty"`
	MaxPool2D *MaxPool2D `yaml:"maxpool2d,omitempty" json:"maxpool2d,omitempty"`
	BatchNorm *Empty     `yaml:"batchnorm,omitempty" json:"batchnorm,omitempty"`
	Dropout   *Dropout   `yaml:"dropout,omitempty" json:"dropout,omitempty"`
	Flatten   *Empty     `yaml:"flatten,omitempty" json:"flatten,omitempty"`
	Dense     *Dense     `yaml:"dense,omitempty" json:"dense,omitempty"`
	ReLU      *Empty     `yaml:"relu,omitempty" json:"relu,omitempty"`
	Tanh      *Empty     `yaml:"tanh,omitempty" json:"tanh,omitempty"`
	Sigmoid   *Empty     `yaml:"sigmoid,omitempty" json:"sigmoid,omitempty"`
	Softmax   *Empty     `yaml:"softmax,omitempty" json:"softmax,omitempty"`
}

// Conv2D is a 2-D convolution with a bias per filter.
type Conv2D struct {
	Filters    int    `yaml:"filters" json:"filters"`
	Kernel     int    `yaml:"kernel" json:"kernel"`                             // square kernel size
	Stride     int    `yaml:"stride,omitempty" json:"stride,omitempty"`         // default 1
	Padding    int    `yaml:"padding,omitempty" json:"padding,omitempty"`       // zeros on each side
	Activation string `yaml:"activation,omitempty" json:"activation,omitempty"` // applied after the layer
}

// MaxPool2D takes the maximum of each window.
type MaxPool2D struct {
	Size   int `yaml:"size" json:"size"`
	Stride int `yaml:"stride,omitempty" json:"stride,omitempty"` // default: size
}

// Dropout zeroes values with probability Rate while training.
type Dropout struct {
	Rate float64 `yaml:"rate" json:"rate"`
}

// Dense is a fully connected layer.
type Dense struct {
	Units      int    `yaml:"units" json:"units"`
	Activation string `yaml:"activation,omitempty" json:"activation,omitempty"` // applied after the layer
}

// Empty is the value of a layer kind without settings.
type Empty struct{}

// layerKinds are the YAML keys of Layer, in field order.
func layerKinds() []string {
	return []string{"conv2d", "maxpool2d", "batchnorm", "dropout", "flatten", "dense", "relu", "tanh", "sigmoid", "softmax"}
}

// NormalizeYAML turns `- relu` into `- relu: {}` and `- batchnorm:` (null)
// into `- batchnorm: {}`, so strict decoding sees one form.
func (l *Layer) NormalizeYAML(n *yaml.Node) (*yaml.Node, error) {
	empty := func(at *yaml.Node) *yaml.Node {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		key := *n
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column,
			Content: []*yaml.Node{&key, empty(n)}}, nil
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			keys := make([]string, 0, len(n.Content)/2)
			for i := 0; i < len(n.Content); i += 2 {
				keys = append(keys, n.Content[i].Value)
			}
			return nil, fmt.Errorf("a layer is one kind (e.g. `- dense: {units: 64}`), got %d keys: %s", len(keys), strings.Join(keys, ", "))
		}
		v := n.Content[1]
		if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "" || v.Value == "~") {
			c := *n
			c.Content = []*yaml.Node{n.Content[0], empty(v)}
			return &c, nil
		}
		return n, nil
	}
	return nil, fmt.Errorf("expected a layer: a kind (%s) or a one-key mapping like `dense: {units: 64}`", strings.Join(layerKinds(), ", "))
}

// modelLayers turns the config's model into model layers: the layers list,
// or the MLP shorthand. A layer's activation field becomes its own layer
// after it; layerIndex maps each model layer back to its model.layers item.
func (m Model) modelLayers(classes int) (layers []model.Layer, layerIndex []int) {
	if len(m.Layers) == 0 {
		ls := model.MLP(m.Hidden, model.Kind(m.Activation), classes)
		return ls, nil
	}
	add := func(i int, l model.Layer, act string) {
		layers = append(layers, l)
		layerIndex = append(layerIndex, i)
		if act != "" {
			layers = append(layers, model.Layer{Kind: model.Kind(act)})
			layerIndex = append(layerIndex, i)
		}
	}
	for i, l := range m.Layers {
		switch {
		case l.Conv2D != nil:
			add(i, model.Layer{Kind: model.Conv2D, Filters: l.Conv2D.Filters, Kernel: l.Conv2D.Kernel,
				Stride: l.Conv2D.Stride, Padding: l.Conv2D.Padding}, l.Conv2D.Activation)
		case l.MaxPool2D != nil:
			add(i, model.Layer{Kind: model.MaxPool2D, Kernel: l.MaxPool2D.Size, Stride: l.MaxPool2D.Stride}, "")
		case l.BatchNorm != nil:
			add(i, model.Layer{Kind: model.BatchNorm}, "")
		case l.Dropout != nil:
			add(i, model.Layer{Kind: model.Dropout, Rate: l.Dropout.Rate}, "")
		case l.Flatten != nil:
			add(i, model.Layer{Kind: model.Flatten}, "")
		case l.Dense != nil:
			add(i, model.Layer{Kind: model.Dense, Units: l.Dense.Units}, l.Dense.Activation)
		case l.ReLU != nil:
			add(i, model.Layer{Kind: model.ReLU}, "")
		case l.Tanh != nil:
			add(i, model.Layer{Kind: model.Tanh}, "")
		case l.Sigmoid != nil:
			add(i, model.Layer{Kind: model.Sigmoid}, "")
		case l.Softmax != nil:
			add(i, model.Layer{Kind: model.Softmax}, "")
		}
	}
	return layers, layerIndex
}

// Source describes what a data source feeds a model.
type Source struct {
	Input   model.Shape
	Classes int
	Train   int // training examples
	Test    int // test examples
}

// Sources lists the data sources nnx reads.
func Sources() map[string]Source {
	return map[string]Source{"mnist": {Input: model.Shape{1, 28, 28}, Classes: 10, Train: 60000, Test: 10000}}
}

// Spec is the model a trial trains, on its data source.
func (t Trial) Spec() (model.Spec, error) {
	src, ok := Sources()[t.Data.Source]
	if !ok {
		return model.Spec{}, fmt.Errorf("unknown data source %q", t.Data.Source)
	}
	layers, _ := t.Model.modelLayers(src.Classes)
	return model.Spec{Input: src.Input, Classes: src.Classes, Layers: layers}, nil
}

// DropShorthand clears the MLP shorthand (hidden, activation) of a trial
// that lists its layers, unless a file or flag wrote them, so the resolved
// config and its id hold only what the model uses.
func (t *Trial) DropShorthand(pos strict.Positions) {
	if len(t.Model.Layers) == 0 {
		return
	}
	if _, written := pos["model.hidden"]; !written {
		t.Model.Hidden = nil
	}
	if _, written := pos["model.activation"]; !written {
		t.Model.Activation = ""
	}
}
