#include "core/file.hpp"
