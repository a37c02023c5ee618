"""Jobs, frames, events and session paging through the real libmoemamba and a real
bundle. Every job's output is compared with the blocking generate_with() of the same
seed on a fresh session: a job must produce exactly what mmb_generate() produces."""
import concurrent.futures
import threading
import time
import unittest

from moemamba import (JOBS_FRAME, JOBS_HOST, JOBS_WORKER, EventKind, JobState, Model, MoemambaError, Runtime,
                      Sampler, Status)

from .support import bundle

PROMPT = "The innkeeper leans over the counter and says: "
LONG_PROMPT = PROMPT * 12


def sampler(seed):
    # Full-distribution sampling, so that any drift in state or RNG shows in the text.
    return Sampler(seed=seed, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)


class JobTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plain = Runtime(n_threads=2)
        cls.plain_model = Model.load_file(cls.plain, bundle())

    @classmethod
    def tearDownClass(cls):
        cls.plain_model.close()
        cls.plain.close()

    def blocking(self, seed, prompt, max_tokens, session=None):
        """(tokens, text, state blob) of generate_with() on a fresh session of the
        runtime without jobs."""
        tokens, pieces = [], []
        own = session is None
        session = session or self.plain_model.session()
        try:
            with sampler(seed) as s:
                session.generate_with(s, prompt, lambda t, p: (t is not None and tokens.append(t)) or
                                      pieces.append(p) or True, max_tokens=max_tokens, stop_at_eos=False)
            return tokens, "".join(pieces), session.save_state()
        finally:
            if own:
                session.close()

    def drain(self, job, runtime=None):
        """Polls a job until it finishes (calling runtime.frame() first when given);
        returns its text and tokens."""
        text = []
        while not job.finished:
            if runtime is not None:
                runtime.frame(500)
            else:
                time.sleep(0.001)
            text.append(job.poll())
        return "".join(text), job.read_tokens()

    def test_job_text_equals_blocking_generate_in_every_mode(self):
        expected_tokens, expected_text, expected_state = self.blocking(42, PROMPT, 40)
        self.assertEqual(len(expected_tokens), 40)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for mode, run_task in ((JOBS_WORKER, None), (JOBS_FRAME, None), (JOBS_HOST, pool.submit)):
                with self.subTest(mode=mode), Runtime(n_threads=2, job_mode=mode, run_task=run_task) as rt, \
                        Model.load_file(rt, bundle()) as model, model.session() as session:
                    with sampler(42) as s:
                        job = session.submit(s, PROMPT, max_tokens=40, stop_at_eos=False)
                    # The job sampled with its own copy: the sampler is closed already.
                    with job:
                        text, tokens = self.drain(job, rt if mode == JOBS_FRAME else None)
                        self.assertIsNone(job.error)
                        self.assertEqual(job.status, Status.OK)
                    self.assertEqual(text, expected_text)
                    self.assertEqual(tokens, expected_tokens)
                    # The session continues where generate_with()'s does.
                    self.assertEqual(session.save_state(), expected_state)

    def test_text_read_after_wait_and_prefill_jobs(self):
        expected_tokens, expected_text, _ = self.blocking(7, PROMPT, 24)
        with Runtime(n_threads=2, job_mode=JOBS_FRAME) as rt, Model.load_file(rt, bundle()) as model:
            with model.session() as session, sampler(7) as s, session.submit(s, PROMPT, max_tokens=24,
                                                                             stop_at_eos=False) as job:
                self.assertFalse(job.wait(0))  # frame mode: nothing advanced it yet
                self.assertTrue(job.wait(60))  # the wait does the work itself
                self.assertEqual(job.state, JobState.QUEUED, "state is what the last poll() saw")
                self.assertEqual(job.poll(), expected_text)
                self.assertTrue(job.finished)
                self.assertEqual(job.read_tokens(), expected_tokens)
                self.assertEqual(job.poll(), "")
            # A prefill job (no sampler) leaves the state of a blocking prefill.
            tokens = model.tokenize(LONG_PROMPT)
            with model.session() as jobbed, model.session() as blocking:
                blocking.prefill(tokens)
                with jobbed.submit_tokens(None, tokens) as job:
                    frames = 0
                    while not job.finished:
                        rt.frame(1)  # tiny budget: one slice of a prompt chunk per frame
                        job.poll()
                        frames += 1
                    self.assertEqual(job.read_tokens(), [])
                self.assertGreater(frames, (len(tokens) + 15) // 16)
                self.assertEqual(jobbed.save_state(), blocking.save_state())

    def test_frames_advance_jobs_with_stats_that_add_up(self):
        n_jobs, n_tokens = 4, 20
        prompts = [f"{PROMPT}{i}" for i in range(n_jobs)]
        with Runtime(n_threads=2, job_mode=JOBS_FRAME) as rt, Model.load_file(rt, bundle()) as model:
            sessions = [model.session() for _ in prompts]
            events = [[] for _ in prompts]
            poll_thread = threading.get_ident()
            wrong_thread = []

            def on_event(i):
                def handler(event):
                    if threading.get_ident() != poll_thread:
                        wrong_thread.append(event)
                    events[i].append(event)
                return handler

            jobs = []
            for i, p in enumerate(prompts):
                with sampler(100 + i) as s:
                    jobs.append(sessions[i].submit(s, p, max_tokens=n_tokens, stop_at_eos=False,
                                                   on_event=on_event(i)))
            frames = []
            while True:
                stats = rt.frame(100)
                frames.append(stats)
                self.assertLessEqual(stats.jobs_active, n_jobs)
                if stats.jobs_active == 0:
                    break
                self.assertLess(len(frames), 100000)
            self.assertGreater(len(frames), 2, "the work spreads over several frames")
            self.assertEqual(sum(f.tokens_generated for f in frames), n_jobs * n_tokens)
            self.assertEqual(sum(f.prompt_tokens for f in frames), sum(len(model.tokenize(p, add_bos=True))
                                                                       for p in prompts))
            self.assertEqual(sum(f.jobs_finished for f in frames), n_jobs)
            self.assertEqual(sum(f.events for f in frames), sum(len(e) for e in events))
            # Generating jobs share batched steps: fewer units than tokens.
            self.assertLess(sum(f.steps for f in frames), n_jobs * n_tokens)
            self.assertEqual(wrong_thread, [])
            for i, job in enumerate(jobs):
                text = job.poll()
                self.assertTrue(job.finished)
                token_events = [e for e in events[i] if e.kind == EventKind.TOKEN]
                self.assertEqual(events[i][-1].kind, EventKind.FINISHED)
                self.assertEqual(events[i][-1].status, Status.OK)
                self.assertEqual("".join(e.text for e in token_events), text)
                expected_tokens, expected_text, _ = self.blocking(100 + i, prompts[i], n_tokens)
                self.assertEqual([e.token for e in token_events if e.token is not None], expected_tokens)
                self.assertEqual(text, expected_text)
                job.close()
            for s in sessions:
                s.close()

    def test_cancel_midway_leaves_the_session_usable(self):
        with Runtime(n_threads=2, job_mode=JOBS_FRAME) as rt, Model.load_file(rt, bundle()) as model, \
                model.session() as session, sampler(3) as s:
            job = session.submit(s, PROMPT, max_tokens=200, stop_at_eos=False)
            tokens = []
            while len(tokens) < 5:
                rt.frame(200)
                job.poll()
                tokens += job.read_tokens()
            with self.assertRaises(MoemambaError) as caught:
                session.step(1)
            self.assertEqual(caught.exception.status, Status.BUSY)
            job.cancel()
            job.cancel()  # twice: nothing more happens
            job.poll()
            tokens += job.read_tokens()
            self.assertTrue(job.finished, "with no thread advancing it, a cancelled job ends at once")
            self.assertTrue(job.cancelled)
            self.assertEqual(job.error.status, Status.CANCELLED)
            job.cancel()  # after the end: nothing happens
            job.close()
            # Every emitted token entered the state: the session continues from there
            # exactly as a fresh session given the same state.
            self.assertLess(len(tokens), 200)
            self.assertEqual(session.position, len(model.tokenize(PROMPT, add_bos=True)) + len(tokens))
            blob = session.save_state()
            with model.session() as fresh:
                fresh.load_state(blob)
                self.assertEqual(self.blocking(9, "more", 8, session)[:2], self.blocking(9, "more", 8, fresh)[:2])

        # With the background worker the cancel races the work: either way it ends and
        # the session is free again.
        with Runtime(n_threads=2) as rt, Model.load_file(rt, bundle()) as model, model.session() as session, \
                sampler(4) as s:
            with session.submit(s, LONG_PROMPT, max_tokens=64) as job:
                job.cancel()
                self.assertTrue(job.wait(60))
                job.poll()
                self.assertIn(job.status, (Status.OK, Status.CANCELLED))
            session.step(1)

    def test_paging_under_a_one_session_budget_is_transparent(self):
        with self.plain_model.session():
            per_session = self.plain.session_memory().resident_bytes
        self.assertGreater(per_session, 0)
        prompts = ["first speaker: ", "second speaker, longer: "]
        expected = [self.blocking(20 + i, p, 16) for i, p in enumerate(prompts)]
        for mode in (JOBS_WORKER, JOBS_FRAME):
            with self.subTest(mode=mode), Runtime(n_threads=2, job_mode=mode, session_memory_budget=per_session) \
                    as rt, Model.load_file(rt, bundle()) as model:
                sessions = [model.session() for _ in prompts]
                jobs = []
                for i, p in enumerate(prompts):
                    with sampler(20 + i) as s:
                        jobs.append(sessions[i].submit(s, p, max_tokens=16, stop_at_eos=False))
                texts = ["", ""]
                while not all(j.finished for j in jobs):
                    if mode == JOBS_FRAME:
                        rt.frame(1000)
                    for i, j in enumerate(jobs):
                        texts[i] += j.poll()
                for i, j in enumerate(jobs):
                    self.assertEqual(texts[i], expected[i][1])
                    self.assertEqual(j.read_tokens(), expected[i][0])
                    j.close()
                memory = rt.session_memory()
                self.assertEqual(memory.sessions, 2)
                self.assertEqual(memory.budget_bytes, per_session)
                self.assertLessEqual(memory.resident_bytes, per_session)
                self.assertGreater(memory.page_outs, 0)
                for i, s in enumerate(sessions):
                    self.assertEqual(s.save_state(), expected[i][2])
                # Both states were read with room for one session: one came back in
                # (not earlier: the first job may end before the second starts).
                self.assertGreater(rt.session_memory().page_ins, 0)
                sessions[0].page_out()
                sessions[0].page_out()  # already out: nothing to do
                memory = rt.session_memory()
                self.assertGreaterEqual(memory.paged_sessions, 1)
                self.assertGreater(memory.paged_bytes, 0)
                for s in sessions:
                    s.close()
        with Runtime(session_memory_budget=64) as rt, Model.load_file(rt, bundle()) as model:
            with self.assertRaises(MoemambaError) as caught:
                model.session()
            self.assertEqual(caught.exception.status, Status.BUDGET)

    def test_misuse_gives_errors_not_crashes(self):
        with Runtime(n_threads=2) as rt, Model.load_file(rt, bundle()) as model, model.session() as session, \
                sampler(1) as s:
            job = session.submit(s, LONG_PROMPT, max_tokens=200)
            with self.assertRaises(MoemambaError) as caught:
                session.submit(s, "x")
            self.assertEqual(caught.exception.status, Status.BUSY)
            with self.assertRaises(MoemambaError) as caught:
                session.page_out()
            self.assertEqual(caught.exception.status, Status.BUSY)
            job.close()
            job.close()
            for call in (job.poll, job.cancel, job.read_tokens, lambda: job.wait(1)):
                with self.assertRaises(MoemambaError) as caught:
                    call()
                self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
                self.assertIn("closed", caught.exception.message)
            session.step(1)  # closing the job freed the session
            with self.assertRaises(MoemambaError) as caught:
                session.submit_tokens(s, [999])
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
            with self.assertRaises(MoemambaError) as caught:
                session.submit(s, "x", max_tokens=-1)
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
            with self.assertRaises(MoemambaError) as caught:
                Runtime(job_mode=JOBS_HOST)  # without run_task
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)

            # A handler's exception is raised by the poll that delivered the event; a
            # handler may close its own job.
            def boom(event):
                raise ValueError("from the handler")
            with session.submit(s, "abc", max_tokens=4, on_event=boom) as job:
                job.wait(60)
                with self.assertRaisesRegex(ValueError, "from the handler"):
                    job.poll()
            seen = []

            def close_own(event):
                seen.append(event)
                own.close()
            own = session.submit(s, "abc", max_tokens=4, on_event=close_own)
            own.wait(60)
            own.poll()
            self.assertEqual(len(seen), 1, "no event after close")
            with self.assertRaises(MoemambaError):
                own.poll()
            session.step(2)

            # A job outlives the session, model and runtime objects it came from.
            with Runtime(job_mode=JOBS_FRAME) as rt2, Model.load_file(rt2, bundle()) as m2:
                s2 = m2.session()
                late = s2.submit(s, "late", max_tokens=5)
                s2.close()
            late.poll()
            self.assertTrue(late.finished)
            self.assertEqual(late.status, Status.CANCELLED)
            late.close()

            # Closing a job while another thread waits on it cancels it; the wait returns.
            long_job = session.submit(s, LONG_PROMPT, max_tokens=200)
            waited = []
            waiter = threading.Thread(target=lambda: waited.append(long_job.wait(60)))
            waiter.start()
            deadline = time.monotonic() + 60
            while long_job._calls == 0 and time.monotonic() < deadline:  # the wait has begun
                time.sleep(0.001)
            long_job.close()
            waiter.join(60)
            self.assertEqual(waited, [True])
            session.step(3)


if __name__ == "__main__":
    unittest.main()
