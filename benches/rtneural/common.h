// What gru.cpp, lstm.cpp and dense.cpp share: reading the little-endian f32 files the
// Rust bench writes, streaming a signal through a model, and timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

static std::vector<float> read_floats(const char* path) {
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    const auto bytes = static_cast<size_t>(file.tellg());
    std::vector<float> values(bytes / sizeof(float));
    file.seekg(0);
    file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
    return values;
}

static void write_floats(const std::string& path, const std::vector<float>& values) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
}

// Prints the median over 21 rounds of `round` (which returns a value to keep the work
// alive) in nanoseconds per each of its `count` operations, and the rounds' sum.
template <typename Round>
static void print_median_ns(size_t count, Round&& round) {
    std::vector<double> rounds;
    float sink = 0.0f;
    for (int r = 0; r < 21; ++r) {
        const auto start = std::chrono::steady_clock::now();
        sink += round();
        const auto end = std::chrono::steady_clock::now();
        rounds.push_back(std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(count));
    }
    std::sort(rounds.begin(), rounds.end());
    std::printf("%.3f %g\n", rounds[rounds.size() / 2], static_cast<double>(sink));
}

// Streams `input` through a one-sample-in, one-out model once from its reset state,
// writes the outputs to `output_path`, then prints the nanoseconds per sample of
// streaming it again (`print_median_ns`, reset before every round).
template <typename Model>
static void stream_and_time(Model& model, const std::vector<float>& input, const std::string& output_path) {
    std::vector<float> output(input.size());
    model.reset();
    for (size_t n = 0; n < input.size(); ++n) output[n] = model.forward(&input[n]);
    write_floats(output_path, output);
    print_median_ns(input.size(), [&] {
        model.reset();
        float sum = 0.0f;
        for (size_t n = 0; n < input.size(); ++n) sum += model.forward(&input[n]);
        return sum;
    });
}
