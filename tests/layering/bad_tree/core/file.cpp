#include "oci/digest.hpp"  // core may not use oci
