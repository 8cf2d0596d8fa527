# Developer shortcuts; the README's two commands are ./run.sh and ./test.sh.
.PHONY: all deps build run test unit bench package clean

all: build

deps:
	bash scripts/install-deps.sh

build:
	bash scripts/build.sh

run:
	./run.sh

test:
	./test.sh

unit: build
	ctest --test-dir build -L unit --output-on-failure

bench: build
	./build/tests/rampart_bench

# The Debian package: build/rampart_<version>_<arch>.deb (CPack).
package: build
	cmake --build build --target package

clean:
	rm -rf build
