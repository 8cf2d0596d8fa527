# Turns a text file into a C++ source that defines rampart::config::kDefaultConfigYaml.
file(READ ${IN} content)
set(delim "RAMPART_EMBED")
file(WRITE ${OUT}.tmp "// Generated from ${IN}. Do not edit.\n#include <string_view>\nnamespace rampart::config {\nextern const std::string_view kDefaultConfigYaml;\nconst std::string_view kDefaultConfigYaml = R\"${delim}(${content})${delim}\";\n}\n")
file(RENAME ${OUT}.tmp ${OUT})
