#include "generate/generator.hpp"
