// Tokenization throughput: MB/s and tokens/s of Tokenizer::encode on 1 MiB of English and 1 MiB of mixed-script
// text (both repeat their words, as text does, which the per-call word cache exploits) and 1 MiB of words never
// seen twice (the merges' own speed), for a SentencePiece and a byte-level BPE vocabulary (median of runs). With --reference, the
// reference's llama-tokenize (built outside this repository) runs on the same files and vocabularies: its time
// (less the time it takes on a one-byte file, i.e. loading) is printed beside ours, and its ids are compared.
// Usage: bench_tokenize [--shared DIR] [--runs N] [--reference PATH/llama-tokenize] [--keep DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/gguf/file.h"
#include "core/tokenizer/tokenizer.h"

namespace {

constexpr size_t kTextBytes = 1 << 20;

// About 1 MiB of `parts` in a random order drawn from `seed`, cut at a character boundary.
std::string fill(const std::vector<std::string>& parts, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < kTextBytes) out += parts[rng() % parts.size()];
  out.resize(kTextBytes);
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  return out;
}

// English: the sentences of ../shared/text/park-story.txt in a seeded random order, to 1 MiB.
std::string english_text(const std::filesystem::path& shared) {
  std::ifstream in(shared / "text" / "park-story.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string story = ss.str();
  std::vector<std::string> sentences;
  size_t start = 0;
  for (size_t i = 0; i < story.size(); ++i) {
    if (story[i] == '.' || story[i] == '!' || story[i] == '?' || story[i] == '\n') {
      sentences.push_back(story.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  if (sentences.empty()) sentences.push_back("Once upon a time, there was a little girl named Lily.");
  return fill(sentences, 1);
}

// Mixed scripts: phrases in Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, CJK, Hangul, emoji, code
// and numbers, in a seeded random order, to 1 MiB.
std::string mixed_text() {
  const std::vector<std::string> phrases = {
      "The quick brown fox jumps over the lazy dog. ", "Привет, как дела? Всё хорошо. ",
      "Η γρήγορη καφέ αλεπού πηδάει. ", "مرحبا بالعالم، كيف حالك؟ ", "שלום עולם, מה שלומך? ",
      "नमस्ते दुनिया, आप कैसे हैं? ", "สวัสดีชาวโลก สบายดีไหม ", "我想在苹果公司工作一千三百天。",
      "今日はいい天気ですね。", "안녕하세요 세계, 잘 지내세요? ", "🚀 (normal) 😶‍🌫️ ✅ 🦙.cpp ",
      "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n", "3.14159 2718281828 1,234,567.89 ",
      "Cửa Việt Führer ½ months naïve café ", "\t\n    indented\n\n", "y'all I'm you're we've ",
  };
  return fill(phrases, 2);
}

// Words never seen twice: random pseudo-words (letter runs of 2-11, capitalised at times) with spaces, commas and
// full stops, so that no word-level reuse helps and every word goes through the merges.
std::string novel_words_text() {
  std::mt19937_64 rng(3);
  std::string out;
  while (out.size() < kTextBytes) {
    const size_t n = 2 + rng() % 10;
    for (size_t i = 0; i < n; ++i) {
      const char c = static_cast<char>('a' + rng() % 26);
      out += i == 0 && rng() % 8 == 0 ? static_cast<char>(c - 'a' + 'A') : c;
    }
    const auto r = rng() % 16;
    out += r == 0 ? ". " : r == 1 ? ", " : " ";
  }
  out.resize(kTextBytes);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs the reference on `file` as we encode (no BOS, the text as bytes: no escapes, no special tokens): wall
// seconds, and the ids it printed ("[1, 2, 3]" with --ids).
double run_reference(const std::string& binary, const std::string& vocab, const std::string& file,
                     std::vector<int32_t>& ids) {
  const std::string command =
      "'" + binary + "' -m '" + vocab + "' -f '" + file + "' --ids --no-bos --no-escape --no-parse-special --log-disable 2>/dev/null";
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  std::string output;
  char buffer[1 << 16];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  const double elapsed = seconds_since(start);
  if (status != 0) return -1;
  ids.clear();
  for (size_t i = 0; i < output.size();) {
    if (output[i] >= '0' && output[i] <= '9') {
      char* end = nullptr;
      ids.push_back(static_cast<int32_t>(std::strtol(output.c_str() + i, &end, 10)));
      i = static_cast<size_t>(end - output.c_str());
    } else {
      ++i;
    }
  }
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path shared = "../shared";
  int runs = 5;
  std::string reference;
  std::filesystem::path keep;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--shared" && i + 1 < argc) {
      shared = argv[++i];
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--reference" && i + 1 < argc) {
      reference = argv[++i];
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_tokenize [--shared DIR] [--runs N] [--reference llama-tokenize] [--keep DIR]\n");
      return 2;
    }
  }
  if (runs <= 0) runs = 1;

  const std::vector<std::pair<std::string, std::string>> texts = {
      {"english", english_text(shared)}, {"mixed", mixed_text()}, {"novel", novel_words_text()}};
  // The texts as files, for the reference (and for inspection with --keep).
  const std::filesystem::path dir = keep.empty() ? std::filesystem::temp_directory_path() / "bench-tokenize" : keep;
  std::filesystem::create_directories(dir);
  for (const auto& [name, text] : texts) std::ofstream(dir / (name + ".txt"), std::ios::binary) << text;
  std::ofstream(dir / "one-byte.txt", std::ios::binary) << "a";

  std::printf("%-10s %-8s %10s %9s %10s %12s", "vocab", "text", "bytes", "tokens", "MB/s", "tokens/s");
  if (!reference.empty()) std::printf(" %12s %10s %8s", "ref MB/s", "ref tok/s", "same ids");
  std::printf("\n");
  for (const char* vocab_name : {"llama-spm", "gpt-2"}) {
    const std::string vocab = (shared / "vocab" / (std::string("ggml-vocab-") + vocab_name + ".gguf")).string();
    const auto tokenizer = sy::tokenizer::Tokenizer::from_file(sy::gguf::File::open(vocab));
    double reference_load = -1;
    if (!reference.empty()) {
      std::vector<int32_t> unused;
      reference_load = run_reference(reference, vocab, (dir / "one-byte.txt").string(), unused);
    }
    for (const auto& [name, text] : texts) {
      std::vector<double> times;
      std::vector<int32_t> ids;
      for (int r = 0; r < runs + 1; ++r) {  // the first run warms caches and is not counted
        const auto start = std::chrono::steady_clock::now();
        ids = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/false);
        if (r > 0) times.push_back(seconds_since(start));
      }
      const double t = median(times);
      std::printf("%-10s %-8s %10zu %9zu %10.2f %12.0f", vocab_name, name.c_str(), text.size(), ids.size(),
                  text.size() / t / 1e6, ids.size() / t);
      if (!reference.empty()) {
        std::vector<double> ref_times;
        std::vector<int32_t> ref_ids;
        for (int r = 0; r < runs; ++r) {
          ref_times.push_back(run_reference(reference, vocab, (dir / (name + ".txt")).string(), ref_ids));
        }
        const double rt = median(ref_times) - reference_load;
        if (reference_load < 0 || rt <= 0) {
          std::printf(" %12s %10s %8s", "failed", "-", "-");
        } else {
          std::printf(" %12.2f %10.0f %8s", text.size() / rt / 1e6, ref_ids.size() / rt, ref_ids == ids ? "yes" : "NO");
        }
      }
      std::printf("\n");
    }
  }
  if (keep.empty()) std::filesystem::remove_all(dir);
  return 0;
}
