#!/usr/bin/env bash
# Flash, static RAM and measured stack of the firmware on every board, inference only and
# with on-device training, and the comparison with tinymind's published figures. Needs
# arm-none-eabi-size (binutils-arm-none-eabi) and qemu-system-arm. Run from anywhere:
#   ./footprint.sh                   # prints the README's tables
#   ./footprint.sh --check README.md # fails unless README.md holds them verbatim (CI)
set -euo pipefail
cd "$(dirname "$0")"
check=""
if [ "${1:-}" = --check ]; then
    check=$(cd - >/dev/null && realpath "$2")
fi
boards=(
    "thumbv7em-none-eabihf cortex-m4 mps2-an386 Cortex-M4F"
    "thumbv7m-none-eabi cortex-m3 mps2-an385 Cortex-M3"
    "thumbv6m-none-eabi cortex-m0 microbit Cortex-M0"
)
tables=$(mktemp)
trap 'rm -f "$tables"' EXIT
{
    printf '| firmware | board | flash (text + data) | static RAM (data + bss) | stack high-water mark | RAM in all |\n'
    printf '|---|---|---|---|---|---|\n'
    for board in "${boards[@]}"; do
        read -r target cpu machine name <<<"$board"
        for variant in inference training; do
            features=(--no-default-features)
            [ "$variant" = training ] && features=()
            dir="target/footprint-$variant"
            cargo build -q --release -p firmware-device --target "$target" --target-dir "$dir" "${features[@]}"
            elf="$dir/$target/release/firmware-device"
            read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -1)
            report=$(timeout 60 qemu-system-arm -cpu "$cpu" -machine "$machine" -display none \
                -semihosting-config enable=on,target=native -kernel "$elf" </dev/null)
            stack=$(sed -n 's/^# stack high-water mark: \([0-9]*\) bytes$/\1/p' <<<"$report")
            printf '| %s | %s | %d bytes | %d bytes | %d bytes | %d bytes |\n' \
                "$variant" "$name" $((text + data)) $((data + bss)) "$stack" $((data + bss + stack))
            if [ "$variant" = training ] && [ "$target" = thumbv7em-none-eabihf ]; then
                tinymind_infer=$(sed -n 's/^# stack for tinymind 2-5-1 f64 inference: \([0-9]*\) bytes$/\1/p' <<<"$report")
                tinymind_train=$(sed -n 's/^# stack for tinymind 2-5-1 f64 training step: \([0-9]*\) bytes$/\1/p' <<<"$report")
            fi
        done
    done
    # Instructions per inference, counted with SysTick under QEMU's -icount (the device's
    # `instructions` feature calibrates the ticks with a loop of known length).
    printf '\n| digits classifier 64-32-10, per inference | board | f32 | int8 | f32 / int8 | int8 with the input quantized from f32 | stack f32 / int8 |\n'
    printf '|---|---|---|---|---|---|---|\n'
    for board in "${boards[@]}"; do
        read -r target cpu machine name <<<"$board"
        dir="target/instructions"
        cargo build -q --release -p firmware-device --target "$target" --target-dir "$dir" \
            --no-default-features --features instructions
        report=$(timeout 60 qemu-system-arm -cpu "$cpu" -machine "$machine" -display none \
            -semihosting-config enable=on,target=native -icount shift=0 \
            -kernel "$dir/$target/release/firmware-device" </dev/null)
        value() { sed -n "s/^# $1: \([0-9]*\).*$/\1/p" <<<"$report"; }
        float=$(value "instructions per inference, f32")
        int8=$(value "instructions per inference, int8")
        quantize=$(value "instructions to quantize the input")
        printf '| instructions | %s | %d | %d | %s | %d (%sx fewer than f32) | %d / %d bytes |\n' \
            "$name" "$float" "$int8" "$(awk "BEGIN { printf \"%.1fx\", $float / $int8 }")" \
            $((int8 + quantize)) "$(awk "BEGIN { printf \"%.1f\", $float / ($int8 + $quantize) }")" \
            "$(value "stack for one f32 inference")" "$(value "stack for one int8 inference")"
        bytes() { sed -n "s/^# $1 in flash, f32: \([0-9]*\) bytes, int8: \([0-9]*\) bytes$/\1 \2/p" <<<"$report"; }
        matrices=$(bytes "weight matrices")
        whole=$(bytes "whole network")
    done
    for row in "weight matrices in flash:$matrices" \
        "whole network in flash (biases, scales, multipliers):$whole"; do
        IFS=: read -r what sizes <<<"$row"
        read -r float_bytes int8_bytes <<<"$sizes"
        printf '| %s | every board | %d bytes | %d bytes | %s | | |\n' "$what" \
            "$float_bytes" "$int8_bytes" "$(awk "BEGIN { printf \"%.1fx\", $float_bytes / $int8_bytes }")"
    done
    # Parameters and tape are compile-time constants (checked by host/tests/same_bits.rs).
    params=168
    tape=48
    printf '\n| 2-5-1 MLP, f64 | tinymind (published, stack excluded) | network, stack excluded | network, with the stack measured on the Cortex-M4F |\n'
    printf '|---|---|---|---|\n'
    printf '| to infer | 360 bytes | %d bytes (parameters) | %d bytes (+ %d of stack) |\n' \
        "$params" $((params + tinymind_infer)) "$tinymind_infer"
    printf '| to train | 1,008 bytes | %d bytes (parameters + tape, `backward_sgd`) | %d bytes (+ %d of stack) |\n' \
        $((params + tape)) $((params + tape + tinymind_train)) "$tinymind_train"
} >"$tables"
# A firmware's flash size moves by a few bytes of alignment padding with the directory it
# is built in (cargo hashes a path dependency's path into its symbol names, which orders
# the functions): the check takes a README row that differs only by up to 64 bytes of flash.
near() {
    local line=$1 other a b
    case "$line" in "| inference |"* | "| training |"*) ;; *) return 1 ;; esac
    other=$(grep -F -- "$(cut -d'|' -f1-3 <<<"$line")|" "$check" | head -1)
    [ -n "$other" ] && [ "$(cut -d'|' -f5- <<<"$line")" = "$(cut -d'|' -f5- <<<"$other")" ] || return 1
    a=$(cut -d'|' -f4 <<<"$line" | tr -dc 0-9)
    b=$(cut -d'|' -f4 <<<"$other" | tr -dc 0-9)
    [ -n "$a" ] && [ -n "$b" ] && [ $((a > b ? a - b : b - a)) -le 64 ]
}
if [ -n "$check" ]; then
    missing=0
    while IFS= read -r line; do
        if [ -n "$line" ] && ! grep -qxF -- "$line" "$check" && ! near "$line"; then
            echo "not in $check: $line"
            missing=1
        fi
    done <"$tables"
    if [ "$missing" -ne 0 ]; then
        echo "the footprint changed: paste the tables above (./footprint.sh) into $check"
        exit 1
    fi
    echo "the footprint tables in $check are current"
else
    cat "$tables"
fi
