"""Choosing a backend and reading its description, through the real libmoemamba.
The test machines have no NVIDIA driver: the CPU is the only backend there."""
import unittest

import moemamba
from moemamba import Backend, BackendInfo, MoemambaError, Model, Runtime, Status

from .support import bundle

CPU_INFO = dict(backend=Backend.CPU, device_index=-1, device_name="CPU", device_memory_total=0, device_memory_used=0)


class BackendTest(unittest.TestCase):
    def test_a_cpu_runtime_describes_the_cpu(self):
        with Runtime(n_threads=3, backend=Backend.CPU) as rt:
            info = rt.backend_info()
            self.assertIsInstance(info, BackendInfo)
            self.assertEqual(info, BackendInfo(n_threads=3, **CPU_INFO))
            self.assertIs(type(info.backend), Backend)
            self.assertIsInstance(info.device_name, str)
            with Model.load_file(rt, bundle()):
                self.assertEqual(rt.backend_info(), info)
            self.assertEqual(rt.backend(), (Backend.CPU, 3))
        with self.assertRaises(MoemambaError) as caught:
            rt.backend_info()
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)

    def test_auto_falls_back_to_the_cpu(self):
        for backend in (moemamba.BACKEND_AUTO, Backend.AUTO):
            with Runtime(n_threads=2, backend=backend) as rt:
                self.assertEqual(rt.backend_info(), BackendInfo(n_threads=2, **CPU_INFO))

    def test_cuda_without_a_driver_is_a_backend_error(self):
        with self.assertRaises(MoemambaError) as caught:
            Runtime(backend=Backend.CUDA)
        e = caught.exception
        self.assertEqual(e.status, Status.BACKEND)
        self.assertEqual(e.status_name, "MMB_ERR_BACKEND")
        self.assertIn("NVIDIA driver", e.message)

    def test_a_negative_device_index_is_refused(self):
        for backend in Backend:
            with self.subTest(backend=backend):
                with self.assertRaises(MoemambaError) as caught:
                    Runtime(backend=backend, device_index=-1)
                self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
                self.assertIn("device_index", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
