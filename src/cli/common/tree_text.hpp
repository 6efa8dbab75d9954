#pragma once
// Text trees as `mosb manifest inspect` prints them:
//   root
//   ├─ child
//   │  └─ grandchild
//   └─ last child
#include <string>
#include <vector>

namespace mos::cli {

struct TreeNode {
  std::string text;
  std::vector<TreeNode> children;
  TreeNode& add(std::string child_text) {
    children.push_back(TreeNode{std::move(child_text), {}});
    return children.back();
  }
};

// The tree, one line per node, each ending in a newline.
std::string render_tree(const TreeNode& root);

}  // namespace mos::cli
