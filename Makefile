# Packs the StartOS package with the SDK's recipe (s9pk.mk):
#   make          type-check, lint and bundle startos/, then pack x86_64 and aarch64
#   make x86      only x86_64        make arm    only aarch64
#   make install  sideload the newest .s9pk to the server start-cli is logged in to
#   make clean
# Packing needs start-cli (and Docker for the image). Without it, everything
# before packing still runs, then check-deps stops with its message.

# The manifest's architectures (s9pk.mk's default adds riscv).
ARCHES := x86 arm

include node_modules/@start9labs/start-sdk/s9pk.mk

# A fresh clone has no node_modules yet: make installs them, then reads s9pk.mk.
node_modules/@start9labs/start-sdk/s9pk.mk:
	npm ci

# start-cli lists the ingredients to pack; with no start-cli that list is empty.
# Hanging the bundle on check-deps (which every pack runs first) builds it
# before the tool check, so a machine without start-cli still runs check, lint
# and bundle.
check-deps: javascript/index.js
