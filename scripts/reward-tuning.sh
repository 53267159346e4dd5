#!/bin/bash
# The reward model's training images on the tuning set (README, "Reward model"):
# the shipped recipe's images (guidance 7), images sampled at guidance 2.5, and both,
# 3 training seeds each, against the judge on the unseen prompts about squares and
# triangles (image seeds 12 and 14: no reported evaluation uses them).
# Needs results/reward/feedback (data/reward-model/README.md). About 25 min here; writes results/reward-tuning/
set -euo pipefail
B="node bin/t2i-align.js"
O=results/reward-tuning
mkdir -p $O
node -e "const t = require('t2i-align');
  const ps = t.unseenPrompts().filter((p) => /square|triangle/.test(p.prompt)).map((p) => p.prompt);
  require('fs').writeFileSync('$O/prompts.txt', ps.join('\n') + '\n');"
$B collect --prompts seen --per-prompt 16 --seed 0 --guidance 2.5 --out $O/feedback-g2.5
$B label --data $O/feedback-g2.5
$B collect --prompts $O/prompts.txt --per-prompt 1 --seed 12 --out $O/images
$B collect --prompts $O/prompts.txt --per-prompt 1 --seed 14 --stand-in 0.5 --out $O/standin
for s in 0 1 2; do
  $B train-reward --data results/reward/feedback --out $O/g7-s$s --seed $s
  $B train-reward --data $O/feedback-g2.5 --out $O/g2.5-s$s --seed $s
  $B train-reward --data results/reward/feedback --data $O/feedback-g2.5 --out $O/both-s$s --seed $s
done
for m in g7 g2.5 both; do
  for s in 0 1 2; do
    $B eval-reward --model $O/$m-s$s --judge $O/images --judge $O/standin --json > $O/eval-$m-s$s.json
  done
  node -e "const fs = require('fs');
    const ds = [0, 1, 2].map((s) => JSON.parse(fs.readFileSync('$O/eval-$m-s' + s + '.json', 'utf8')).differences);
    const mean = (i, k) => (ds.reduce((a, d) => a + d[i][k], 0) / ds.length).toFixed(3);
    console.log('$m: reward ' + mean(0, 'reward') + ' / ' + mean(1, 'reward') + ', CLIP ' + mean(0, 'clip') + ' / ' + mean(1, 'clip') + ' (images / stand-ins)');"
done
