// podvisor: PID 1 and process supervisor for GPU model-serving containers.
#include "cli/single.h"

int main(int argc, char** argv) { return podvisor::cli::main(argc, argv); }
