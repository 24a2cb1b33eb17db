// The networks of the firmware, shared with the host program that trains and exports the
// digits classifier (`examples/export_firmware.rs` includes this file), so both sides
// agree on the shapes by construction.

use network::prelude::*;

network! {
    /// Classifies 8x8 digits; trained on the host, its weights are embedded in flash:
    /// `DigitsNet::WEIGHTS` is decoded at compile time from the file the exporter wrote
    /// (to change the layers, remove the attribute, re-export, put it back).
    #[weights("../data/digits-weights.bin")]
    pub struct DigitsNet {
        hidden: Dense<64, 32>, Relu,
        logits: Dense<32, 10>,
    }
}

network! {
    /// Learns XOR on the device.
    pub struct XorNet {
        hidden: Dense<2, 8>, Tanh,
        logit: Dense<8, 1>,
    }
}

network! {
    /// tinymind's example network (2-5-1 in f64), for the footprint comparison.
    pub struct TinymindNet {
        hidden: Dense<2, 5>, Sigmoid,
        output: Dense<5, 1>, Sigmoid,
    }
}

/// Samples embedded with the weights: 64 standardized pixels and a label each.
pub const SAMPLE_BYTES: usize = 64 * 4 + 4;

network! {
    /// A small 1-d convolutional network, trained on the device: two channels of 16
    /// samples, a convolution, max pooling, a grouped "same" convolution, global average
    /// pooling and a dense layer to two classes.
    pub struct SignalNet {
        Input<2, 16>,
        conv: Conv1d<4, 3>(padding = 1), Relu,
        MaxPool1d<2>,
        mix: Conv1d<4, 3>(padding = "same", groups = 2), Tanh,
        GlobalAvgPool,
        logits: Dense<2>,
    }
}

network! {
    /// A streaming GRU, run one sample at a time on the device: one sample in, one out,
    /// per step.
    pub struct StreamNet {
        Input<16, 1>,
        rnn: Gru<4>,
        out: Dense<1>,
    }
}

network! {
    /// A small image classifier with random weights, quantized to int8 on the device:
    /// a 3x3 convolution with batch norm (folded into it) and ReLU, max pooling, a
    /// depthwise convolution, average pooling and a dense layer.
    pub struct TinyCnn {
        Input<1, 8, 8>,
        conv: Conv2d<4, 3>(padding = 1),
        bn: BatchNorm, Relu,
        MaxPool2d<2>,
        depthwise: Conv2d<4, 3>(padding = 1, groups = 4), Relu,
        AvgPool2d<2>,
        Flatten,
        logits: Dense<16, 10>,
    }
}
