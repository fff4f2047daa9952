package faceapi

import (
	"fmt"

	"github.com/everify/everify/internal/modelpkg/onnxgraph"
)

// SSD MobileNetV1 architecture (face-api src/ssdMobilenetv1): a MobileNetV1
// backbone with ReLU6 activations, eight extra pointwise/3×3 layers, and six
// box predictors over feature maps of 32, 16, 8, 4, 2 and 1 cells.
var (
	// mobilenetOut are the pointwise output channels of conv pairs 1-13.
	mobilenetOut = []int64{64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024}
	// predictionConvs are the extra layers: kernel, output channels, stride.
	predictionConvs = [][3]int64{{1, 256, 1}, {3, 512, 2}, {1, 128, 1}, {3, 256, 2}, {1, 128, 1}, {3, 256, 2}, {1, 64, 1}, {3, 128, 2}}
)

// ssdEpsilon is the batch-norm epsilon face-api uses (float32 of 1e-3).
const ssdEpsilon = 0.0010000000474974513

func buildSSD(b *builder) {
	in := b.input(InputName, SSDInputSize)
	// face-api: x / 127.5 - 1.
	x := b.binary("Div", "preprocess/div", in, b.scalar(127.5))
	x = b.binary("Sub", "preprocess/sub", x, b.scalar(1))
	x = b.toNCHW("preprocess/nchw", x)

	x = b.pointwise("MobilenetV1", 0, x, 3, 32, 2)
	var conv11 string
	for i, cout := range mobilenetOut {
		idx := i + 1
		stride := int64(1)
		if idx == 2 || idx == 4 || idx == 6 || idx == 12 {
			stride = 2
		}
		x = b.depthwiseBN(idx, x, stride)
		x = b.pointwise("MobilenetV1", idx, x, 1, cout, 1)
		if idx == 11 {
			conv11 = x
		}
	}

	features := make([]string, len(predictionConvs))
	y := x
	for i, pc := range predictionConvs {
		y = b.pointwise("Prediction", i, y, pc[0], pc[1], pc[2])
		features[i] = y
	}
	// Box predictor inputs, in face-api's concatenation order, and the
	// number of anchors per cell of each.
	sources := []string{conv11, x, features[1], features[3], features[5], features[7]}
	anchors := []int64{3, 6, 6, 6, 6, 6}
	var encs, classes []string
	for i, src := range sources {
		e, c := b.boxPredictor(i, src, anchors[i])
		encs = append(encs, e)
		classes = append(classes, c)
	}
	enc := b.concat("Prediction/box_encodings", 1, encs...)
	cls := b.concat("Prediction/class_predictions", 1, classes...)

	n := b.shape(enc)[1]
	boxes := b.decodeBoxes(enc, n)
	// Score of class 1 (face); class 0 is the background.
	s := b.sliceLast("Output/face_logit", cls, 1, 2)
	s = b.unary("Sigmoid", "Output/face_sigmoid", s)
	scores := b.reshape(ScoresName, s, []int64{-1, n}, 0, -1)
	b.output(boxes)
	b.output(scores)
}

// pointwise is face-api's pointwiseConvLayer: conv (no bias), add the
// folded batch-norm offset, ReLU6.
func (b *builder) pointwise(prefix string, idx int, x string, k, cout, stride int64) string {
	name := fmt.Sprintf("%s/Conv2d_%d_pointwise", prefix, idx)
	y := b.conv(name+"/conv", x, name+"/weights", name+"/convolution_bn_offset", k, cout, stride, same)
	return b.relu6(name+"/relu6", y)
}

// depthwiseBN is face-api's depthwiseConvLayer: depthwise 3×3, batch norm,
// ReLU6.
func (b *builder) depthwiseBN(idx int, x string, stride int64) string {
	name := fmt.Sprintf("MobilenetV1/Conv2d_%d_depthwise", idx)
	y := b.depthwise(name+"/conv", x, name+"/depthwise_weights", stride)
	c := b.shape(y)[1]
	bn := func(param string) string {
		return b.init(name+"/BatchNorm/"+param, []int64{c}, b.weight(name+"/BatchNorm/"+param, c))
	}
	y = b.node("BatchNormalization", name+"/bn", b.shape(y),
		[]string{y, bn("gamma"), bn("beta"), bn("moving_mean"), bn("moving_variance")},
		onnxgraph.AFloat("epsilon", ssdEpsilon))
	return b.relu6(name+"/relu6", y)
}

// boxPredictor returns the box encodings [N, cells*anchors, 4] and class
// logits [N, cells*anchors, 3] of one feature map, anchors ordered by cell
// (row-major) then anchor, as TF.js's NHWC reshape orders them.
func (b *builder) boxPredictor(idx int, x string, anchors int64) (enc, cls string) {
	name := fmt.Sprintf("Prediction/BoxPredictor_%d", idx)
	s := b.shape(x)
	cells := s[2] * s[3]
	e := b.conv(name+"/BoxEncodingPredictor/conv", x, name+"/BoxEncodingPredictor/weights", name+"/BoxEncodingPredictor/biases", 1, 4*anchors, 1, same)
	e = b.toNHWC(name+"/BoxEncodingPredictor/nhwc", e)
	enc = b.reshape(name+"/box_encodings", e, []int64{-1, cells * anchors, 4}, 0, -1, 4)
	c := b.conv(name+"/ClassPredictor/conv", x, name+"/ClassPredictor/weights", name+"/ClassPredictor/biases", 1, 3*anchors, 1, same)
	c = b.toNHWC(name+"/ClassPredictor/nhwc", c)
	cls = b.reshape(name+"/class_predictions", c, []int64{-1, cells * anchors, 3}, 0, -1, 3)
	return enc, cls
}

// decodeBoxes applies the anchors (Output/extra_dim, corner form ymin, xmin,
// ymax, xmax) to the encodings (dy, dx, dh, dw) with face-api's scale
// factors 10 and 5 and returns corner-form boxes in the same order of
// operations as face-api's outputLayer.
func (b *builder) decodeBoxes(enc string, n int64) string {
	a := b.weight("Output/extra_dim", 1, n, 4)
	center := make([]float32, 2*n)
	size := make([]float32, 2*n)
	for i := range n {
		for j := range int64(2) {
			sz := a[4*i+2+j] - a[4*i+j]
			size[2*i+j] = sz
			center[2*i+j] = a[4*i+j] + sz/2
		}
	}
	anchorCenter := b.init("Output/anchor_center", []int64{1, n, 2}, center)
	anchorSize := b.init("Output/anchor_size", []int64{1, n, 2}, size)

	yx := b.sliceLast("Output/dyx", enc, 0, 2)
	hw := b.sliceLast("Output/dhw", enc, 2, 4)
	c := b.binary("Div", "Output/center_div", yx, b.scalar(10))
	c = b.binary("Mul", "Output/center_mul", c, anchorSize)
	c = b.binary("Add", "Output/center", c, anchorCenter)
	h := b.binary("Div", "Output/half_div", hw, b.scalar(5))
	h = b.unary("Exp", "Output/half_exp", h)
	h = b.binary("Mul", "Output/half_mul", h, anchorSize)
	h = b.binary("Div", "Output/half", h, b.scalar(2))
	lo := b.binary("Sub", "Output/min", c, h)
	hi := b.binary("Add", "Output/max", c, h)
	return b.concat(BoxesName, 2, lo, hi)
}
