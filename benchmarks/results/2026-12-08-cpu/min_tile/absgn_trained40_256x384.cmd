python benchmarks/tiled_seams.py --model ckpt/absgn/checkpoints/last.ckpt --size 256 384 --tiles 64 96 128 192 256 --overlap 8 16 32 64 --threads 1 --sweep --out absgn_trained40_256x384.json
