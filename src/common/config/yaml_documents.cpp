// Counting a YAML stream's documents (yaml_documents.hpp).
#include "config/yaml_documents.hpp"

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace slurmvm::config {
namespace {

// Counts a stream's documents without building them, and where the second one starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = second_root = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { node(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

  int documents = 0;
  YAML::Mark second;
  YAML::Mark second_root;

 private:
  void node(const YAML::Mark& mark) {
    if (documents == 2 && !rooted_) {
      second_root = mark;
      rooted_ = true;
    }
  }
  bool rooted_ = false;
};

}  // namespace

DocumentCount count_documents(const std::string& text, int limit) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (int i = 0; i < limit && parser.HandleNextDocument(counter); ++i) {
  }
  return {counter.documents, counter.second, counter.second_root};
}

}  // namespace slurmvm::config
