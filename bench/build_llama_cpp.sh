#!/usr/bin/env bash
# Builds llama.cpp's llama-bench, llama-batched-bench, llama-server and llama-quantize (CPU only, native) from the
# source tree vendored in the llama-cpp-python source distribution on PyPI, and caches the result
# outside the repository so benchmarks reuse it. Prints the folder holding the binaries.
#
#   bench/build_llama_cpp.sh            # build once, then reuse
#   LLAMA_CPP_PYTHON_VERSION=0.3.36 …   # pin another release
set -euo pipefail
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
home="${DRIFT_SCRIPT_HOME:-$HOME/.cache/drift-script}"
root="$home/llama.cpp/$version"
bin="$root/build/bin"
if [[ -x "$bin/llama-bench" && -x "$bin/llama-batched-bench" && -x "$bin/llama-server" && -x "$bin/llama-quantize" ]]; then
  echo "$bin"; exit 0
fi
mkdir -p "$root"
work=$(mktemp -d "$root/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! command -v cmake >/dev/null 2>&1; then
  # cmake from a binary wheel: building it from source would take most of an hour on 2 cores.
  python3 -m pip install --quiet --user cmake >&2
  export PATH="$HOME/.local/bin:$PATH"
fi
# --no-binary for this one package only: its build dependencies may come as wheels.
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
  "llama-cpp-python==$version" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
rm -rf "$root/src"
mv "$work/llama_cpp_python-$version/vendor/llama.cpp" "$root/src"
# -march=native turns on AMX where the CPU reports it, but AMX tiles need a permission from the
# kernel that virtual machines like ours refuse: llama-bench then dies with SIGILL. Our engine
# does not use AMX either, so both sides run on the same AVX-512/AVX2 instruction set.
sed -i 's/list(APPEND ARCH_FLAGS -march=native)/list(APPEND ARCH_FLAGS -march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)/' \
  "$root/src/ggml/src/ggml-cpu/CMakeLists.txt"
cmake -S "$root/src" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$root/build" -j "$(nproc)" --target llama-bench llama-batched-bench llama-server llama-quantize >&2
echo "$bin"
