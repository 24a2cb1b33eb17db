// RTNeural's compile-time dense models of benches/inference.rs's wide networks
// (784-128-10 and 256-256-256-10, ReLU between layers), for benches/rtneural.rs: loads
// the weights the Rust bench wrote (PyTorch's [out, in] layouts, then the bias, layer by
// layer), runs every input sample once and writes the outputs (to check that both run
// the same math), then times one-sample forward passes over the samples in turn and
// prints nanoseconds per sample for each network.
//
// Built by the bench as gru.cpp is (g++ -O3 -std=c++17, once with the default target
// and once with -march=native), with EIGEN_STACK_ALLOCATION_LIMIT raised for the 784x129
// fixed-size matrix. The layers are driven exactly as `RTNeural::ModelT::forward` drives
// them with Eigen: the input mapped in place, each layer's `forward` on the previous
// layer's `outs`.
#include <RTNeural/Model.h>

#include "common.h"

#include <memory>
#include <vector>

// Loads a dense layer's [out, in] weights and bias from `w`; returns the rest.
template <typename Dense>
static const float* load(Dense& dense, const float* w) {
    std::vector<std::vector<float>> rows(Dense::out_size, std::vector<float>(Dense::in_size));
    for (int o = 0; o < Dense::out_size; ++o)
        for (int i = 0; i < Dense::in_size; ++i) rows[o][i] = *w++;
    dense.setWeights(rows);
    dense.setBias(w);
    return w + Dense::out_size;
}

// ModelT<float, 784, 10, DenseT<784, 128>, ReLuActivationT<128>, DenseT<128, 10>>.
struct Wide {
    static constexpr int in_size = 784;
    static constexpr int out_size = 10;
    RTNeural::DenseT<float, 784, 128> hidden;
    RTNeural::ReLuActivationT<float, 128> relu;
    RTNeural::DenseT<float, 128, 10> logits;
    void load_all(const float* w) { load(logits, load(hidden, w)); }
    const float* forward(const float* input) {
        auto v_ins = Eigen::Map<const Eigen::Matrix<float, 784, 1>, RTNeural::RTNeuralEigenAlignment>(input);
        hidden.forward(v_ins);
        relu.forward(hidden.outs);
        logits.forward(relu.outs);
        return logits.outs.data();
    }
};

// The same with DenseT<256, 256>, ReLU, three times, then DenseT<256, 10>.
struct Deep {
    static constexpr int in_size = 256;
    static constexpr int out_size = 10;
    RTNeural::DenseT<float, 256, 256> a, b, c;
    RTNeural::ReLuActivationT<float, 256> ra, rb, rc;
    RTNeural::DenseT<float, 256, 10> logits;
    void load_all(const float* w) { load(logits, load(c, load(b, load(a, w)))); }
    const float* forward(const float* input) {
        auto v_ins = Eigen::Map<const Eigen::Matrix<float, 256, 1>, RTNeural::RTNeuralEigenAlignment>(input);
        a.forward(v_ins);
        ra.forward(a.outs);
        b.forward(ra.outs);
        rb.forward(b.outs);
        c.forward(rb.outs);
        rc.forward(c.outs);
        logits.forward(rc.outs);
        return logits.outs.data();
    }
};

// Runs `prefix`.weights.f32 on `prefix`.input.f32, writes `prefix`.output.f32, prints
// nanoseconds per one-sample forward pass.
template <typename Model>
static void run(const std::string& prefix) {
    const auto w = read_floats((prefix + ".weights.f32").c_str());
    const auto input = read_floats((prefix + ".input.f32").c_str());
    // The weights (up to 400 KB) live on the heap, as a static would; the input is
    // copied to 16-byte-aligned storage, as the Map requires.
    auto model = std::make_unique<Model>();
    model->load_all(w.data());
    const size_t samples = input.size() / Model::in_size;
    std::vector<float, Eigen::aligned_allocator<float>> x(input.begin(), input.end());
    std::vector<float> output;
    for (size_t n = 0; n < samples; ++n) {
        const float* y = model->forward(x.data() + n * Model::in_size);
        output.insert(output.end(), y, y + Model::out_size);
    }
    write_floats(prefix + ".output.f32", output);

    // 20,000 passes a round, the samples in turn.
    constexpr size_t passes = 20000;
    print_median_ns(passes, [&] {
        float sum = 0.0f;
        for (size_t n = 0; n < passes; ++n) sum += model->forward(x.data() + (n % samples) * Model::in_size)[0];
        return sum;
    });
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: dense wide-prefix deep-prefix\n");
        return 2;
    }
    run<Wide>(argv[1]);
    run<Deep>(argv[2]);
    return 0;
}
