// The command lines podvisor answers to: `podvisor [OPTIONS] -- CMD` and, through argv[0],
// `standard-supervisor CMD`.
#pragma once

namespace podvisor::cli {

int main(int argc, char** argv);

}  // namespace podvisor::cli
