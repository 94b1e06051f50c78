// Runs a model through the embedding API: prints where its tensors went, streams a greedy story, and scores a text.
//   embed MODEL.gguf "Once upon a time" [TEXT_FILE]
#include <switchyard/switchyard.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: embed MODEL.gguf PROMPT [TEXT_FILE]\n";
    return 2;
  }
  try {
    switchyard::OpenOptions options;
    options.settings = {{"runtime.context_length", "256"}};
    auto model = switchyard::Model::open(argv[1], options);
    std::cout << "architecture " << model.architecture() << ", " << model.plan().tensors.size() << " tensors on";
    for (const auto& d : model.plan().devices) std::cout << " " << d.device;
    std::cout << "\n";

    auto session = model.create_session();
    switchyard::GenerateOptions greedy;
    greedy.temperature = 0;
    greedy.max_tokens = 30;
    int pieces = 0;
    std::cout << argv[2];
    const auto result = session.generate(argv[2], greedy, [&](std::string_view text, int32_t) {
      std::cout << text << std::flush;
      return ++pieces < 20;  // stop after 20 tokens: the callback decides
    });
    std::cout << "\nstop " << result.stop_reason << " after " << result.tokens.size() << " tokens\n";

    if (argc > 3) {
      std::ifstream in(argv[3]);
      std::stringstream text;
      text << in.rdbuf();
      std::cout << "perplexity " << session.score(text.str(), 128) << "\n";
    }
    const auto ids = model.tokenize("Lily");
    std::cout << "logits " << session.logits(ids).size() << "\n";
  } catch (const switchyard::Error& e) {
    std::cerr << "error (" << sy::to_string(e.code()) << "): " << e.what() << "\n";
    return 1;
  }
  return 0;
}
