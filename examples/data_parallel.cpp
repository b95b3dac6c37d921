// Data-parallel training over several processes (README "Training over several processes"):
//   mpirun -np 2 ./example_data_parallel
// Each process trains a replica on its own shard of every batch; DataParallel averages the
// gradients during backward, so the replicas stay equal. Alone, it is a world of one process.
#include <dist/dist.h>
#include <mixgrad.h>

#include <iostream>

int main() {
  namespace dist = mg::dist;
  dist::init();  // the MPI world under mpirun, else a world of one process
  mg::manual_seed(0);
  auto model = std::make_shared<mg::nn::Sequential>(std::make_shared<mg::nn::Linear>(4, 16),
                                                    std::make_shared<mg::nn::Tanh>(),
                                                    std::make_shared<mg::nn::Linear>(16, 1));
  dist::DataParallel ddp(*model);  // rank 0's parameters on every process
  mg::optim::Adam opt(model->parameters(), {.lr = 1e-2});
  mg::Generator data(1 + dist::rank());  // every process draws its own shard
  for (int step = 0; step < 100; ++step) {
    mg::Tensor x = mg::randn({32, 4}, mg::kFloat32, &data);
    mg::Tensor loss = mg::mse_loss((*model)(x), mg::sin(x.sum({1}, true)));
    opt.zero_grad();
    loss.backward();  // returns with the gradients averaged over the processes
    opt.step();
    mg::Tensor mean_loss = dist::all_reduce(loss.detach(), dist::ReduceOp::Mean);
    if (dist::rank() == 0 && step % 20 == 0)
      std::cout << "step " << step << " loss " << mean_loss.item<float>() << "\n";
  }
}
