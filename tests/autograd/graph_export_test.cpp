#include "common/test_util.h"

namespace mg = mixgrad;

TEST(GraphExport, DotHasOneVertexPerOpAndLeafAndDataFlowEdges) {
  auto x = mg::ones({2, 3}, mg::kFloat64).requires_grad_();
  auto w = mg::ones({3}, mg::kFloat64).requires_grad_();
  auto y = (x * w).relu().sum();
  const std::string dot = mg::to_dot(y);
  EXPECT_EQ(dot.rfind("digraph G {", 0), 0u);
  // Vertices: two leaves, mul, relu, sum.
  for (const char* label : {"label=\"leaf\\nfloat64[2, 3]\"", "label=\"leaf\\nfloat64[3]\"",
                            "label=\"mul\\nfloat64[2, 3]\"", "label=\"relu\\nfloat64[2, 3]\"",
                            "label=\"sum\\nfloat64[]\""})
    EXPECT_NE(dot.find(label), std::string::npos) << label << " missing in\n" << dot;
  size_t vertices = 0, edges = 0;
  for (size_t pos = 0; (pos = dot.find("[label=", pos)) != std::string::npos; ++pos) ++vertices;
  for (size_t pos = 0; (pos = dot.find("->", pos)) != std::string::npos; ++pos) ++edges;
  EXPECT_EQ(vertices, 5u);
  EXPECT_EQ(edges, 4u);  // x->mul, w->mul, mul->relu, relu->sum
  // Vertex ids follow discovery from the root: sum=0, relu=1, mul=2, leaves 3 and 4.
  EXPECT_NE(dot.find("1->0"), std::string::npos);
  EXPECT_NE(dot.find("2->1"), std::string::npos);
  EXPECT_NE(dot.find("3->2"), std::string::npos);
  EXPECT_NE(dot.find("4->2"), std::string::npos);
}

TEST(GraphExport, SharedSubgraphAppearsOnce) {
  auto x = mg::ones({2}, mg::kFloat64).requires_grad_();
  auto h = mg::exp(x);
  auto y = (h + h * 2).sum();
  const std::string dot = mg::to_dot(y);
  size_t exps = 0;
  for (size_t pos = 0; (pos = dot.find("label=\"exp", pos)) != std::string::npos; ++pos) ++exps;
  EXPECT_EQ(exps, 1u);
}
