#!/usr/bin/env bash
# Flash, static RAM and measured stack high-water mark of the firmware, inference only and
# with on-device training, on the Cortex-M4F board. Needs arm-none-eabi-size
# (binutils-arm-none-eabi) and qemu-system-arm. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"
target=thumbv7em-none-eabihf
printf '| firmware | flash (text + data) | static RAM (data + bss) | stack high-water mark |\n|---|---|---|---|\n'
for variant in inference training; do
    features=(--no-default-features)
    [ "$variant" = training ] && features=()
    dir="target/footprint-$variant"
    cargo build -q --release -p firmware-device --target "$target" --target-dir "$dir" "${features[@]}"
    elf="$dir/$target/release/firmware-device"
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -1)
    stack=$(timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -display none \
        -semihosting-config enable=on,target=native -kernel "$elf" </dev/null |
        sed -n 's/^# stack high-water mark: \([0-9]*\) bytes$/\1/p')
    printf '| %s | %d bytes | %d bytes | %s bytes |\n' "$variant" $((text + data)) $((data + bss)) "$stack"
done
