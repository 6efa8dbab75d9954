#include "cli/common/tree_text.hpp"

namespace mos::cli {

namespace {

void render_children(const TreeNode& node, const std::string& indent, std::string& out) {
  for (std::size_t i = 0; i < node.children.size(); ++i) {
    bool last = i + 1 == node.children.size();
    out += indent + (last ? "└─ " : "├─ ") + node.children[i].text + "\n";
    render_children(node.children[i], indent + (last ? "   " : "│  "), out);
  }
}

}  // namespace

std::string render_tree(const TreeNode& root) {
  std::string out = root.text + "\n";
  render_children(root, "", out);
  return out;
}

}  // namespace mos::cli
