Feature: Spending above an order's limit waits for the CEO
  An order may carry a spending limit. A task whose spending cap would take
  the order over it is not dispatched: it waits for the CEO's decision in the
  approvals inbox. Approved, it is dispatched; rejected, it is cancelled.

  Background:
    Given AgentOS runs on PostgreSQL with its events relayed through NATS JetStream
    And the CEO holds a token

  Scenario: An order above its spending limit waits for approval and proceeds once approved
    When the CEO orders "Pay approved invoices up to EUR 400" with a spending limit of EUR 300
    Then the order is accepted
    And the task "payment_run" awaits approval because of the order's spending limit
    And the approvals inbox lists its approval as pending for EUR 400
    When the CEO approves it
    Then the task "payment_run" is dispatched
    And the approvals inbox lists its approval as granted

  Scenario: A rejected approval cancels the task
    When the CEO orders "Pay approved invoices up to EUR 400" with a spending limit of EUR 300
    Then the task "payment_run" awaits approval because of the order's spending limit
    When the CEO rejects it because "Not this month"
    Then the task "payment_run" is cancelled
    And the approvals inbox lists its approval as rejected because "Not this month"
    And the order is closed as failed
